// The REST calls the page makes: the topic list, pages of past events (for the chart and the feed after a load), series and instance history.
import type { InstanceState, PulseEvent } from '#pulse/contracts';
import type { SeriesStep } from './series-range.js';

export interface TopicInfo {
  topic: string;
  head: number;
  epoch: string;
}

export interface EventsPage {
  epoch: string;
  head: number;
  events: PulseEvent[];
}

/** One bucket of `GET …/series` (DESIGN.md, "History"): zeros where nothing happened, gauges null where no tick ran. */
export interface SeriesPoint {
  /** Bucket start, ms since 1970. */
  t: number;
  attempts: number;
  successes: number;
  failures: number;
  /** Percent, two decimals; 0 without attempts. */
  success_rate: number;
  /** Mean of the durations given, ms; 0 when none was. */
  duration_avg: number;
  duration_max: number;
  active_instances: number | null;
  known_instances?: number | null;
  /** Attempts that gave a duration; when the server omits it, `attempts` stands in. */
  duration_count?: number;
}

export interface SeriesPage {
  topic: string;
  step: SeriesStep;
  from: number;
  /** Exclusive end. */
  to: number;
  points: SeriesPoint[];
  /** The log position the buckets include (read with them): live events above it are added on top. */
  seq?: number;
}

/** One hour of an instance. */
export interface InstancePoint {
  t: number;
  attempts: number;
  failures: number;
  offline_ms: number;
}

/** `GET …/instances/:instanceId`: the instance's state, its uptime and its hourly series. */
export interface InstanceHistory extends InstanceState {
  topic: string;
  first_seen: number | null;
  offline_since: number | null;
  /** Percent of each window (since first seen) the instance was not offline. */
  uptime: { '24h': number; '7d': number; '30d': number };
  series: { step: '1h'; from: number; to: number; points: InstancePoint[] };
}

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

  async topics(): Promise<TopicInfo[]> {
    return (await this.get<TopicInfo[]>('/api/v1/topics')) ?? [];
  }

  /** Events after `after` (exclusive), at most `limit`. */
  async events(topic: string, after: number, limit = PAGE_LIMIT): Promise<EventsPage | null> {
    return this.get<EventsPage>(`/api/v1/topics/${encodeURIComponent(topic)}/events?after=${after}&limit=${Math.min(limit, PAGE_LIMIT)}`);
  }

  /** Buckets of `step` from `from` to `to`; an unknown topic reads as zeros. */
  async series(topic: string, step: SeriesStep, from: number, to: number): Promise<SeriesPage | null> {
    return this.get<SeriesPage>(`/api/v1/topics/${encodeURIComponent(topic)}/series?step=${step}&from=${Math.floor(from)}&to=${Math.floor(to)}`);
  }

  /** An instance's state, uptime and hourly series; null when the topic does not know it. */
  async instance(topic: string, instanceId: string, from?: number, to?: number): Promise<InstanceHistory | null> {
    const range = from !== undefined && to !== undefined ? `?from=${Math.floor(from)}&to=${Math.floor(to)}` : '';
    return this.get<InstanceHistory>(`/api/v1/topics/${encodeURIComponent(topic)}/instances/${encodeURIComponent(instanceId)}${range}`);
  }

  private async get<T>(path: string): Promise<T | null> {
    let lastError: unknown = new Error('no gateway to ask');
    for (const base of new Set(this.bases())) {
      try {
        const token = this.token(base);
        const response = await fetch(new URL(path, base), { headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
        if (response.status === 404 || response.status === 410) return null;
        if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
        return (await response.json()) as T;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }
}
