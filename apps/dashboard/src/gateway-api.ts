// The REST calls the page makes: the topic list and pages of past events (for the chart and the feed after a load).
import type { PulseEvent } from '#pulse/contracts';

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
