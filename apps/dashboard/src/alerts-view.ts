// The Alerts card: firing alerts first (severity, since, for how long, a "silence 1 h" button for admins; the first 200, then how many more), then recently resolved ones, then the topic's rules.
import type { Rule } from '#pulse/contracts';
import { silenceFor, type ActiveAlert, type AlertBoard, type ResolvedAlert, type SilenceInfo } from './alert-board.js';
import { el, required, setText } from './dom.js';
import { formatClock, formatCount, formatDuration } from './format.js';

/** Resolved alerts listed (the newest): the card stays short on a flapping fleet. */
const RESOLVED_SHOWN = 5;
/** Firing alerts listed (the most severe and oldest first); the rest are counted: a fleet-wide outage stays cheap to redraw. */
export const FIRING_SHOWN = 200;

export class AlertsView {
  private readonly root: HTMLElement;
  private readonly firingList: HTMLOListElement;
  private readonly resolvedList: HTMLOListElement;
  private readonly rulesBody: HTMLTableSectionElement;
  private readonly count: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly noRules: HTMLElement;
  /** A failed read of the rules or the silences, said in the card until a read succeeds. */
  private readonly problems: Record<'rules' | 'silences', HTMLElement>;
  private readonly resolvedBlock: HTMLElement;
  /** Start time of each shown active alert, by its duration cell: the clock moves them every second. */
  private durations: { cell: HTMLElement; since: number }[] = [];
  private agos: { cell: HTMLElement; at: number }[] = [];
  /** Alert ids whose silence request is on its way (the button shows it). */
  private readonly silencing = new Set<string>();

  constructor(
    document: ParentNode,
    /** Asked to silence an alert for an hour; resolves when the server accepted it. */
    private readonly onSilence: (alert: ActiveAlert) => Promise<void>,
  ) {
    this.root = required(document, '[data-testid="alerts"]');
    this.firingList = required<HTMLOListElement>(this.root, '[data-testid="alerts-firing"]');
    this.resolvedList = required<HTMLOListElement>(this.root, '[data-testid="alerts-resolved"]');
    this.resolvedBlock = required(this.root, '[data-testid="alerts-resolved-block"]');
    this.rulesBody = required<HTMLTableSectionElement>(this.root, '[data-testid="rules"] tbody');
    this.count = required(this.root, '[data-testid="alerts-count"]');
    this.empty = required(this.root, '[data-testid="alerts-empty"]');
    this.noRules = required(this.root, '[data-testid="rules-empty"]');
    this.problems = {
      rules: required(this.root, '[data-testid="rules-error"]'),
      silences: required(this.root, '[data-testid="silences-error"]'),
    };
  }

  /** Says that the rules or the silences could not be read (null: they were); shown at once, not at the next render. */
  problem(what: 'rules' | 'silences', text: string | null): void {
    const line = this.problems[what];
    line.hidden = text === null;
    setText(line, text ?? '');
    // "No rules for this topic" would be a claim the page cannot make.
    if (what === 'rules' && text !== null) this.noRules.hidden = true;
  }

  /** Redraws the lists (they are short, the firing one capped: a redraw per change is cheap). */
  render(
    board: AlertBoard,
    context: { topic: string; silences: readonly SilenceInfo[]; admin: boolean },
    now: number,
  ): void {
    const firing = board.firing;
    const count = firing.length;
    this.root.dataset.firing = String(count);
    setText(this.count, count > 0 ? `${count} firing` : 'all clear');
    this.count.dataset.tone = count > 0 ? 'bad' : 'ok';
    this.empty.hidden = firing.length > 0;
    this.durations = [];
    this.agos = [];
    const rows = firing
      .slice(0, FIRING_SHOWN)
      .map((alert) =>
        this.activeRow(alert, silenceFor(alert, context.topic, context.silences, now), context.admin, now),
      );
    if (count > FIRING_SHOWN) rows.push(moreRow(count - FIRING_SHOWN));
    this.firingList.replaceChildren(...rows);
    const resolved = board.resolved;
    this.resolvedBlock.hidden = resolved.length === 0;
    this.resolvedList.replaceChildren(
      ...resolved.slice(0, RESOLVED_SHOWN).map((alert) => this.resolvedRow(alert, now)),
    );
    const rules = board.rules;
    this.noRules.hidden = rules.length > 0 || !this.problems.rules.hidden;
    this.rulesBody.replaceChildren(...rules.map(ruleRow));
  }

  /** Durations and ages move with the clock. */
  tick(now: number): void {
    for (const { cell, since } of this.durations) setText(cell, formatDuration(now - since));
    for (const { cell, at } of this.agos) setText(cell, `${formatDuration(now - at)} ago`);
  }

  private activeRow(alert: ActiveAlert, silence: SilenceInfo | null, admin: boolean, now: number): HTMLLIElement {
    const li = el('li', 'alert');
    Object.assign(li.dataset, { alertId: alert.alertId, severity: alert.severity, silenced: String(silence !== null) });
    const duration = el('span', 'alert-duration', formatDuration(now - alert.activeSince));
    duration.dataset.testid = 'alert-duration';
    this.durations.push({ cell: duration, since: alert.activeSince });
    const since = el('span', 'alert-since', `since ${formatClock(alert.activeSince)} · for `);
    since.append(duration);
    const meta = el('p', 'alert-meta');
    meta.append(
      el('span', 'alert-where', alert.instanceId ? `${alert.instanceId} · ${alert.ruleId}` : alert.ruleId),
      since,
    );
    if (silence) {
      const note = el('span', 'alert-silenced', `silenced until ${formatClock(silence.endsAt!)}`);
      note.dataset.testid = 'alert-silenced';
      if (silence.comment) note.title = silence.comment;
      meta.append(note);
    }
    li.append(severityBadge(alert.severity), el('p', 'alert-summary', alert.summary), meta);
    if (admin && !silence) li.append(this.silenceButton(alert));
    return li;
  }

  private silenceButton(alert: ActiveAlert): HTMLButtonElement {
    const button = el('button', 'alert-silence', this.silencing.has(alert.alertId) ? 'silencing…' : 'Silence 1 h');
    button.type = 'button';
    button.dataset.testid = 'alert-silence';
    button.title = alert.instanceId
      ? `No notifications for ${alert.ruleId} on ${alert.instanceId} for one hour (the alert stays visible)`
      : `No notifications for ${alert.ruleId} for one hour (the alert stays visible)`;
    button.disabled = this.silencing.has(alert.alertId);
    button.addEventListener('click', () => {
      this.silencing.add(alert.alertId);
      button.disabled = true;
      button.textContent = 'silencing…';
      this.onSilence(alert)
        .catch((error: unknown) => {
          button.disabled = false;
          button.textContent = 'Silence 1 h';
          button.title = `Not silenced: ${(error as Error).message}`;
          button.dataset.error = (error as Error).message;
        })
        .finally(() => this.silencing.delete(alert.alertId));
    });
    return button;
  }

  private resolvedRow(alert: ResolvedAlert, now: number): HTMLLIElement {
    const li = el('li', 'alert resolved');
    Object.assign(li.dataset, { alertId: alert.alertId, severity: alert.severity });
    const ago = el('span', 'alert-ago', `${formatDuration(now - alert.resolvedAt)} ago`);
    this.agos.push({ cell: ago, at: alert.resolvedAt });
    const meta = el('p', 'alert-meta');
    meta.append(
      el('span', 'alert-where', alert.instanceId ? `${alert.instanceId} · ${alert.ruleId}` : alert.ruleId),
      el(
        'span',
        'alert-since',
        `resolved ${formatClock(alert.resolvedAt)} after ${formatDuration(alert.resolvedAt - alert.activeSince)} · `,
      ),
      ago,
    );
    li.append(severityBadge('resolved'), el('p', 'alert-summary', alert.summary), meta);
    return li;
  }
}

/** The line after the listed firing alerts: how many more fire. */
function moreRow(more: number): HTMLLIElement {
  const li = el(
    'li',
    'alert alert-more',
    `and ${formatCount(more)} more firing (the first ${FIRING_SHOWN} are listed, the most severe and oldest first)`,
  );
  li.dataset.testid = 'alerts-more';
  li.dataset.more = String(more);
  return li;
}

function severityBadge(label: string): HTMLSpanElement {
  const badge = el('span', 'badge severity', label);
  badge.dataset.severity = label;
  return badge;
}

/** `windowMs: 300000, thresholdPct: 20` → `window 5 min · threshold 20 %`; other params as `key value`. */
export function describeParams(params: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params ?? {})) {
    if (typeof value === 'number' && /Ms$/.test(key)) parts.push(`${key.slice(0, -2)} ${formatDuration(value)}`);
    else if (typeof value === 'number' && /Pct$/.test(key)) parts.push(`${key.slice(0, -3)} ${value} %`);
    else parts.push(`${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return parts.join(' · ');
}

function ruleRow(rule: Rule): HTMLTableRowElement {
  const tr = el('tr');
  tr.dataset.ruleId = rule.ruleId;
  const id = el('td', 'rule-id', rule.ruleId);
  if (rule.description) id.title = rule.description;
  const severity = el('td');
  if (rule.severity) severity.append(severityBadge(rule.severity));
  else severity.textContent = '–';
  tr.append(
    id,
    el('td', 'rule-kind wide', rule.kind),
    el('td', 'rule-params', describeParams(rule.params) || '–'),
    el('td', 'rule-for wide', rule.forMs ? formatDuration(rule.forMs) : '–'),
    severity,
    el('td', 'rule-channels wide', rule.channels?.length ? rule.channels.join(', ') : '–'),
  );
  return tr;
}
