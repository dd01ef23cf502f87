// The REST calls the page makes: the topic list, pages of past events (for the chart and the feed after a load), series and instance history, rules and silences.
import type { SilenceInfo } from './alert-board.js';
import {
  MAX_PAGES,
  nextPageLink,
  type InstanceHistory,
  type PulseEvent,
  type Rule,
  type SeriesPoint,
  type SeriesResponse,
  type SeriesStep,
  type UptimeList,
} from '#pulse/contracts';

export interface TopicInfo {
  topic: string;
  head: number;
  epoch: string | null;
}

export interface EventsPage {
  epoch: string | null;
  head: number;
  events: PulseEvent[];
}

/**
 * The series answer (libs/contracts). `seq` (the log position the buckets include, read with them)
 * and `duration_count` make the live extension exact when the server states them; see live-series.ts.
 */
export type SeriesPage = Omit<SeriesResponse, 'points' | 'seq'> & { points: SeriesPagePoint[]; seq?: number };
/** A series point; one from a gateway of an earlier version has no `duration_count` (see bucketOf in live-series). */
export type SeriesPagePoint = Omit<SeriesPoint, 'duration_count'> & { duration_count?: number };

/** Most events one page may carry (the API's limit). */
export const PAGE_LIMIT = 1000;

/**
 * Asks the gateways in order until one answers (the page's own origin first: no CORS needed).
 * Answers null for a 404/410 (no such topic, or no longer retained); throws when none answers.
 */
export class GatewayApi {
  constructor(
    private readonly bases: () => string[],
    /** The access token for a gateway base URL, when the gateways require one. */
    private readonly token: (base: string) => string | null = () => null,
  ) {}

  /** Every topic the token covers, page after page (each page names the next in its Link header). */
  async topics(): Promise<TopicInfo[]> {
    const topics: TopicInfo[] = [];
    let next: string | null = '/api/v1/topics';
    for (let pages = 0; next !== null && pages < MAX_PAGES; pages++) {
      const page: { body: TopicInfo[]; next: string | null } | null = await this.getPage<TopicInfo[]>(next);
      topics.push(...(page?.body ?? []));
      next = page?.next ?? null;
    }
    return topics;
  }

  /** Events after `after` (exclusive), at most `limit`. */
  async events(topic: string, after: number, limit = PAGE_LIMIT): Promise<EventsPage | null> {
    return this.get<EventsPage>(
      `/api/v1/topics/${encodeURIComponent(topic)}/events?after=${after}&limit=${Math.min(limit, PAGE_LIMIT)}`,
    );
  }

  /** Buckets of `step` from `from` to `to`; an unknown topic reads as zeros. */
  async series(topic: string, step: SeriesStep, from: number, to: number): Promise<SeriesPage | null> {
    return this.get<SeriesPage>(
      `/api/v1/topics/${encodeURIComponent(topic)}/series?step=${step}&from=${Math.floor(from)}&to=${Math.floor(to)}`,
    );
  }

  /** An instance's state, uptime and hourly series; null when the topic does not know it. */
  async instance(topic: string, instanceId: string, from?: number, to?: number): Promise<InstanceHistory | null> {
    const range = from !== undefined && to !== undefined ? `?from=${Math.floor(from)}&to=${Math.floor(to)}` : '';
    return this.get<InstanceHistory>(
      `/api/v1/topics/${encodeURIComponent(topic)}/instances/${encodeURIComponent(instanceId)}${range}`,
    );
  }

  /** Every instance's 24 h uptime in one answer. */
  async uptimes(topic: string): Promise<UptimeList | null> {
    return this.get<UptimeList>(`/api/v1/topics/${encodeURIComponent(topic)}/uptime?window=24h`);
  }

  /** The topic's alert rules (an unknown topic has none). */
  async rules(topic: string): Promise<Rule[]> {
    return listOf<Rule>(await this.get<unknown>(`/api/v1/topics/${encodeURIComponent(topic)}/rules`), 'rules');
  }

  /** Every silence (admins only: a viewer's request is refused, which the page takes as none). */
  async silences(): Promise<SilenceInfo[]> {
    return listOf<SilenceInfo>(await this.get<unknown>('/api/v1/silences'), 'silences');
  }

  /**
   * Creates a silence; answers its id. Sent to the first gateway only: a POST that may have
   * arrived is not sent again elsewhere. Throws with the server's message when refused.
   */
  async createSilence(body: {
    matchers: SilenceInfo['matchers'];
    startsAt: number;
    endsAt: number;
    comment: string;
  }): Promise<string> {
    const base = this.bases()[0];
    if (base === undefined) throw new Error('no gateway to ask');
    const token = this.token(base);
    const response = await fetch(new URL('/api/v1/silences', base), {
      method: 'POST',
      headers: {
        accept: 'application/json',
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    const answer = (await response.json().catch(() => null)) as { id?: string; message?: string } | null;
    if (!response.ok) throw new Error(answer?.message ?? `HTTP ${response.status}`);
    return answer?.id ?? '';
  }

  private async get<T>(path: string): Promise<T | null> {
    return (await this.getPage<T>(path))?.body ?? null;
  }

  /** A GET's body and the path of the next page (its Link header), null for a 404/410. */
  private async getPage<T>(path: string): Promise<{ body: T; next: string | null } | null> {
    let lastError: unknown = new Error('no gateway to ask');
    for (const base of new Set(this.bases())) {
      try {
        const token = this.token(base);
        const response = await fetch(new URL(path, base), {
          headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        });
        if (response.status === 404 || response.status === 410) return null;
        if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
        return { body: (await response.json()) as T, next: nextPageLink(response.headers.get('link')) };
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }
}

/** A list answer: the array itself, or the array under `key` (either shape is accepted). */
function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  const inner = (body as Record<string, unknown> | null)?.[key];
  return Array.isArray(inner) ? (inner as T[]) : [];
}
