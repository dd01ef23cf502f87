// The event feed: the latest events, newest first, filterable by type.
import type { PulseEvent } from '#pulse/contracts';
import { el } from './dom.js';
import { formatClock, formatCount, formatDuration, formatPercent } from './format.js';

/** Rows shown. */
const SHOWN = 100;
/** Events kept, so that a filter still finds rare types among busy ones. */
const KEPT = 1000;

export class EventFeed {
  /** In seq order. */
  private events: PulseEvent[] = [];
  private filter = '';

  constructor(
    private readonly list: HTMLOListElement,
    select: HTMLSelectElement,
  ) {
    this.filter = select.value;
    select.addEventListener('change', () => {
      this.filter = select.value;
      this.render();
    });
  }

  clear(): void {
    this.events = [];
    this.list.replaceChildren();
  }

  /** A live event (the newest). */
  push(event: PulseEvent): void {
    this.events.push(event);
    if (this.events.length > KEPT * 1.5) this.events = this.events.slice(-KEPT);
    if (this.filter && event.type !== this.filter) return;
    this.list.prepend(row(event));
    while (this.list.childElementCount > SHOWN) this.list.lastElementChild!.remove();
  }

  /** Events from before the live ones (a backfill after load), in seq order. */
  history(events: PulseEvent[]): void {
    const first = this.events[0]?.seq ?? Number.POSITIVE_INFINITY;
    this.events = [...events.filter((event) => event.seq < first), ...this.events].slice(-KEPT);
    this.render();
  }

  private render(): void {
    const rows: HTMLLIElement[] = [];
    for (let i = this.events.length - 1; i >= 0 && rows.length < SHOWN; i--) {
      const event = this.events[i]!;
      if (!this.filter || event.type === this.filter) rows.push(row(event));
    }
    this.list.replaceChildren(...rows);
  }
}

function row(event: PulseEvent): HTMLLIElement {
  const li = el('li', 'event');
  li.dataset.type = event.type;
  li.dataset.seq = String(event.seq);
  const tone = toneOf(event);
  if (tone) li.dataset.tone = tone;
  const time = el('time', 'at', formatClock(event.ts));
  time.dateTime = new Date(event.ts).toISOString();
  li.append(
    time,
    el('span', 'type', event.type),
    el('span', 'seq', `#${event.seq}`),
    el('span', 'text', describe(event)),
  );
  return li;
}

function toneOf(event: PulseEvent): 'ok' | 'bad' | 'warn' | null {
  if (event.type === 'attempt.recorded') return event.data.outcome === 'success' ? 'ok' : 'bad';
  if (event.type === 'instance.offline') return 'warn';
  if (event.type === 'alert.firing') return 'bad';
  if (event.type === 'alert.resolved') return 'ok';
  return null;
}

/** One line saying what the event means. */
export function describe(event: PulseEvent): string {
  switch (event.type) {
    case 'attempt.recorded': {
      const { data } = event;
      if (data.outcome === 'success')
        return `${data.instanceId} succeeded${data.durationMs === undefined ? '' : ` in ${Math.round(data.durationMs)} ms`}`;
      return `${data.instanceId} failed${data.error ? `: ${data.error}` : ''}`;
    }
    case 'instance.heartbeat': {
      const { data } = event;
      return `${data.instanceId} is ${data.status ?? 'online'}`;
    }
    case 'instance.offline': {
      const { data } = event;
      return `${data.instanceId} went offline: silent for over ${formatDuration(data.ttl_ms)}`;
    }
    case 'instance.removed': {
      const { data } = event;
      return `${data.instanceId} removed: last seen ${formatDuration(event.ts - data.last_seen)} earlier, longer than the forget time (its history stays in the series)`;
    }
    case 'status_update': {
      const { data } = event;
      return `loop #${formatCount(data.loop_count)}, ${formatCount(data.active_instances)} active`;
    }
    case 'statistics_update': {
      const { data } = event;
      return `${formatCount(data.total_attempts)} attempts, ${formatPercent(data.success_rate)} successful`;
    }
    case 'instances_update':
      return `${formatCount(event.data.instances.length)} ${event.data.full === false ? 'changed' : 'instances'}`;
    case 'alert.firing':
    case 'alert.resolved': {
      const { data } = event;
      return `${data.alertId} ${event.type === 'alert.firing' ? 'firing' : 'resolved'}${data.summary ? `: ${data.summary}` : ''}`;
    }
    case 'rule.set':
      return `rule ${event.data.ruleId} set (${event.data.kind})`;
    case 'rule.removed':
      return `rule ${event.data.ruleId} removed`;
    default:
      return '';
  }
}
