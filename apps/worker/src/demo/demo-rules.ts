// The demo topic's default alert rules, set up through the REST API at start so a newcomer sees alerts fire and resolve without configuring anything.

/** A rule as `PUT /api/v1/topics/:topic/rules/:ruleId` takes it (DESIGN, "Alerts"). */
export interface DemoRule {
  kind: string;
  params: Record<string, unknown>;
  forMs?: number;
  severity?: 'info' | 'warning' | 'critical';
  description?: string;
}

/**
 * What the demo fleet does now and then, as rules: an instance goes silent past the TTL, and an
 * "upstream incident" makes most attempts fail for a minute or two (its baseline is about 13 %
 * failures, so 30 % over 2 min does not fire by chance).
 */
export const DEMO_RULES: Record<string, DemoRule> = {
  'instance-offline': {
    kind: 'instance_offline',
    params: {},
    severity: 'critical',
    description:
      'A demo instance stopped sending heartbeats (the demo fleet does this now and then; it comes back by itself)',
  },
  'failure-rate': {
    kind: 'failure_rate',
    params: { windowMs: 120_000, thresholdPct: 30, minAttempts: 20 },
    severity: 'warning',
    description:
      'Over 30 % of the attempts of the last 2 min failed (the demo fleet simulates an upstream incident every few minutes)',
  },
};

export interface DemoRulesOptions {
  /** Gateways, tried in order. */
  urls: readonly string[];
  /** @default 'demo' */
  topic?: string;
  /** An admin token for the topic, when the gateways require one. */
  token?: () => Promise<string>;
  /** Where the outcome goes. */
  log: { warn(msg: string): void; log(msg: string): void };
  /** Stops the retries (the worker shuts down). */
  signal: AbortSignal;
  /** Pause between rounds while no gateway answers. @default 3000 */
  retryMs?: number;
  /** Rounds before giving up. @default 40 */
  rounds?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The outcome, for logs and tests. */
export type DemoRulesOutcome = { created: string[]; kept: string[] } | { skipped: string };

/**
 * Creates each rule of DEMO_RULES that the topic does not have yet; a rule that exists (a person
 * may have changed it) is left alone, so starting again changes nothing. Gateways may still be
 * starting: rounds are retried until one answers. Never rejects.
 */
export async function setUpDemoRules(options: DemoRulesOptions): Promise<DemoRulesOutcome> {
  const topic = options.topic ?? 'demo';
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const rounds = options.rounds ?? 40;
  let lastProblem = 'no gateway to ask';
  for (let round = 0; round < rounds && !options.signal.aborted; round++) {
    if (round > 0) await pause(options.retryMs ?? 3_000, options.signal);
    for (const base of options.urls.map((url) => url.replace(/\/+$/, ''))) {
      if (options.signal.aborted) break;
      const rulesUrl = `${base}/api/v1/topics/${encodeURIComponent(topic)}/rules`;
      try {
        const headers: Record<string, string> = {
          accept: 'application/json',
          ...(options.token ? { authorization: `Bearer ${await options.token()}` } : {}),
        };
        const listed = await doFetch(rulesUrl, {
          headers,
          signal: AbortSignal.any([options.signal, AbortSignal.timeout(5_000)]),
        });
        const body = await listed.text();
        if (listed.status === 404)
          return skipped(options, `the gateway at ${base} has no alert rules API (GET ${rulesUrl} answered 404)`);
        if (listed.status === 401 || listed.status === 403)
          return skipped(
            options,
            `the gateway at ${base} refused the demo's token (${listed.status}): ${body.slice(0, 300)}`,
          );
        if (!listed.ok) {
          lastProblem = `GET ${rulesUrl} answered ${listed.status}`;
          continue;
        }
        const existing = new Set(ruleIdsOf(JSON.parse(body) as unknown));
        const created: string[] = [];
        for (const [ruleId, rule] of Object.entries(DEMO_RULES)) {
          if (existing.has(ruleId)) continue;
          const put = await doFetch(`${rulesUrl}/${encodeURIComponent(ruleId)}`, {
            method: 'PUT',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify(rule),
            signal: AbortSignal.any([options.signal, AbortSignal.timeout(5_000)]),
          });
          const answer = await put.text();
          if (!put.ok)
            return skipped(options, `PUT ${rulesUrl}/${ruleId} answered ${put.status}: ${answer.slice(0, 300)}`);
          created.push(ruleId);
        }
        const kept = [...existing].filter((id) => Object.hasOwn(DEMO_RULES, id));
        if (created.length > 0)
          options.log.log(
            `demo fleet: alert rules ${created.join(', ')} set on topic "${topic}" (pulse rules ${topic} lists them)`,
          );
        return { created, kept };
      } catch (error) {
        if (options.signal.aborted) break;
        lastProblem = `${rulesUrl}: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
  }
  return options.signal.aborted
    ? { skipped: 'stopped' }
    : skipped(options, `no gateway answered after ${rounds} tries (${lastProblem})`);
}

function skipped(options: DemoRulesOptions, why: string): DemoRulesOutcome {
  options.log.warn(`demo fleet: default alert rules not set up: ${why}`);
  return { skipped: why };
}

/** The rule ids of a `GET …/rules` answer: an array of rules, or `{ rules: [...] }`. */
function ruleIdsOf(body: unknown): string[] {
  const list = Array.isArray(body) ? body : (body as { rules?: unknown } | null)?.rules;
  if (!Array.isArray(list)) return [];
  return list.flatMap((rule) => {
    const id = (rule as { ruleId?: unknown; id?: unknown } | null)?.ruleId ?? (rule as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? [id] : [];
  });
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
