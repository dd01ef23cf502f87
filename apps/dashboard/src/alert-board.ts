// The topic's alerts as the page shows them: the snapshot's active alerts plus later alert events, and the rules from REST plus later rule events (pure, no DOM).
import type {
  AlertFiringData,
  AlertResolvedData,
  EventType,
  PulseEvent,
  Rule,
  Severity,
  Silence,
} from '#pulse/contracts';

/** A firing alert: `alert.firing`'s data (the snapshot's `alerts` add `firedAt`). */
export type ActiveAlert = AlertFiringData;
/** A resolved alert: `alert.resolved`'s data (with the severity it fired with). */
export type ResolvedAlert = AlertResolvedData;

/** An event as the board reads it: its type, which still tells its data's shape. */
export type BoardEvent = { [T in EventType]: Pick<PulseEvent<T>, 'type' | 'data'> }[EventType];

/** Resolved alerts kept for the "recently resolved" list. */
export const RESOLVED_KEPT = 20;

const RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/** Critical, warning, info; then the longest firing first; then by id (a stable order). */
export function compareActive(a: ActiveAlert, b: ActiveAlert): number {
  return (
    (RANK[a.severity] ?? 3) - (RANK[b.severity] ?? 3) ||
    a.activeSince - b.activeSince ||
    (a.alertId < b.alertId ? -1 : a.alertId > b.alertId ? 1 : 0)
  );
}

/** What an event changed on the board. */
export interface AlertChange {
  alerts: boolean;
  rules: boolean;
}

/**
 * Folds alert and rule events in seq order onto the last snapshot's active alerts. Rules come
 * from REST (the snapshot does not carry them): a rule event that arrives while that request is
 * on its way wins over its answer, so a late answer cannot bring back a removed rule.
 */
export class AlertBoard {
  private active = new Map<string, ActiveAlert>();
  /** Newest last. */
  private resolvedList: ResolvedAlert[] = [];
  private ruleMap = new Map<string, Rule>();
  /** Rule ids set or removed by events since the last reset: the REST answer does not override them. */
  private touchedRules = new Set<string>();

  /** The snapshot's active alerts (an older snapshot's resolved list is dropped with it). */
  reset(alerts: readonly ActiveAlert[] | undefined): void {
    this.active = new Map((alerts ?? []).map((alert) => [alert.alertId, { ...alert }]));
    this.resolvedList = [];
    this.ruleMap = new Map();
    this.touchedRules = new Set();
  }

  /** Rules as `GET …/rules` answered them; events folded since the reset take precedence. */
  setRules(rules: readonly Rule[]): void {
    for (const id of [...this.ruleMap.keys()]) if (!this.touchedRules.has(id)) this.ruleMap.delete(id);
    for (const rule of rules) {
      if (this.touchedRules.has(rule.ruleId)) continue;
      this.ruleMap.set(rule.ruleId, rule);
    }
  }

  /** Folds one event of the topic (any type; other types change nothing). */
  apply(event: BoardEvent): AlertChange {
    switch (event.type) {
      case 'alert.firing': {
        const { data } = event;
        this.active.set(data.alertId, data);
        return { alerts: true, rules: false };
      }
      case 'alert.resolved': {
        const { data } = event;
        this.active.delete(data.alertId);
        this.addResolved(data);
        return { alerts: true, rules: false };
      }
      case 'rule.set': {
        const { data } = event;
        this.ruleMap.set(data.ruleId, data);
        this.touchedRules.add(data.ruleId);
        return { alerts: false, rules: true };
      }
      case 'rule.removed': {
        const { ruleId } = event.data;
        this.ruleMap.delete(ruleId);
        this.touchedRules.add(ruleId);
        return { alerts: false, rules: true };
      }
      default:
        return { alerts: false, rules: false };
    }
  }

  /** Events from before the snapshot (the page's backfill), in seq order: their resolved alerts go in the recent list. */
  history(events: readonly BoardEvent[]): void {
    const earlier = events.flatMap((event) => (event.type === 'alert.resolved' ? [event.data] : []));
    const known = new Set(this.resolvedList.map((r) => `${r.alertId}@${r.resolvedAt}`));
    this.resolvedList = [
      ...earlier.filter((r) => !known.has(`${r.alertId}@${r.resolvedAt}`)),
      ...this.resolvedList,
    ].slice(-RESOLVED_KEPT);
  }

  /** Firing alerts, in the order of `compareActive`. */
  get firing(): ActiveAlert[] {
    return [...this.active.values()].sort(compareActive);
  }

  /** How many alerts are firing: the number in the title and the icon. */
  get firingCount(): number {
    return this.active.size;
  }

  /** Recently resolved, newest first. */
  get resolved(): ResolvedAlert[] {
    return [...this.resolvedList].sort((a, b) => b.resolvedAt - a.resolvedAt);
  }

  /** Rules by id. */
  get rules(): Rule[] {
    return [...this.ruleMap.values()].sort((a, b) => (a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0));
  }

  private addResolved(resolved: ResolvedAlert): void {
    this.resolvedList.push(resolved);
    if (this.resolvedList.length > RESOLVED_KEPT) this.resolvedList.splice(0, this.resolvedList.length - RESOLVED_KEPT);
  }
}

/** A silence as `GET /api/v1/silences` lists it; the page reads what it needs to mark silenced alerts. */
export type SilenceInfo = Pick<Silence, 'id' | 'matchers' | 'startsAt' | 'endsAt' | 'comment'> &
  Partial<Pick<Silence, 'cron' | 'createdAt'>>;

/** The one-off silence that covers `alert` of `topic` at `now` and ends last, if any (a recurring one is matched by the server only). */
export function silenceFor(
  alert: Pick<ActiveAlert, 'ruleId' | 'instanceId'>,
  topic: string,
  silences: readonly SilenceInfo[],
  now: number,
): SilenceInfo | null {
  let found: SilenceInfo | null = null;
  for (const silence of silences) {
    const { matchers: m } = silence;
    const startsAt = silence.startsAt ?? silence.createdAt ?? 0;
    if (silence.cron !== undefined || silence.endsAt === undefined) continue;
    if (startsAt > now || silence.endsAt <= now) continue;
    if ((m.topic !== undefined && m.topic !== topic) || (m.ruleId !== undefined && m.ruleId !== alert.ruleId)) continue;
    if (m.instanceId !== undefined && m.instanceId !== alert.instanceId) continue;
    if (!found || silence.endsAt > found.endsAt!) found = silence;
  }
  return found;
}

/** The page title: `(3) demo · Pulse` while 3 alerts fire, `demo · Pulse` otherwise. */
export function pageTitle(topic: string, firing: number): string {
  return `${firing > 0 ? `(${firing}) ` : ''}${topic} · Pulse`;
}

/** The favicon as an SVG data URL: the Pulse mark, with a red badge carrying the number of firing alerts (9+ above nine). */
export function faviconUrl(firing: number): string {
  const mark =
    "<rect width='32' height='32' rx='8' fill='#6366f1'/><path d='M5 17h6l3-8 4 15 3-7h6' fill='none' stroke='white' stroke-width='2.6' stroke-linecap='round' stroke-linejoin='round'/>";
  const label = firing > 9 ? '9+' : String(Math.max(0, Math.floor(firing)));
  const badge =
    firing > 0
      ? `<circle cx='23' cy='9' r='9' fill='#dc2626' stroke='white' stroke-width='1.5'/><text x='23' y='13' font-family='Arial,sans-serif' font-size='${label.length > 1 ? 9 : 12}' font-weight='700' fill='white' text-anchor='middle'>${label}</text>`
      : '';
  return `data:image/svg+xml,${encodeURIComponent(`<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'>${mark}${badge}</svg>`)}`;
}
