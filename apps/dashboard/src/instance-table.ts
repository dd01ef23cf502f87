// The instance table: keyed rows redrawn only when their instance changed, sortable by any column, ages and countdowns re-rendered locally every second; a row opens its instance's panel.
import type { InstanceState } from '#pulse/contracts';
import { el, setText } from './dom.js';
import { formatAgo, formatCount, formatCountdown, formatUptime } from './format.js';

export type SortKey =
  'id' | 'status' | 'last_seen' | 'next_action_at' | 'attempts' | 'successes' | 'failures' | 'uptime';

const SORT_KEYS: ReadonlySet<string> = new Set<SortKey>([
  'id',
  'status',
  'last_seen',
  'next_action_at',
  'attempts',
  'successes',
  'failures',
  'uptime',
]);
/** Columns whose first click sorts largest/latest first. */
const DESCENDING_FIRST: ReadonlySet<SortKey> = new Set<SortKey>(['last_seen', 'attempts', 'successes', 'failures']);

/** Ids and statuses in natural order (`host-2` before `host-10`); one collator for every comparison (building one per call costs ~60x more). */
const natural = new Intl.Collator('en', { numeric: true }).compare;

interface Row {
  tr: HTMLTableRowElement;
  badge: HTMLSpanElement;
  lastSeen: HTMLTableCellElement;
  nextAction: HTMLTableCellElement;
  attempts: HTMLTableCellElement;
  successes: HTMLTableCellElement;
  failures: HTMLTableCellElement;
  uptime: HTMLTableCellElement;
  instance: InstanceState;
}

export class InstanceTable {
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<string, Row>();
  private sortKey: SortKey = 'id';
  private sortDir: 1 | -1 = 1;

  /** Uptime over 24 h by instance id, as last fetched (null: not seen in the window). */
  private readonly uptimes = new Map<string, number | null>();

  constructor(
    private readonly table: HTMLTableElement,
    /** A row was clicked (or Enter pressed on it). */
    private readonly onSelect: (id: string) => void = () => {},
  ) {
    this.body = table.tBodies[0] ?? table.createTBody();
    this.body.addEventListener('click', (event) => this.select(event.target));
    this.body.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') this.select(event.target);
    });
    for (const th of table.querySelectorAll<HTMLTableCellElement>('th[data-key]')) {
      th.querySelector('button')?.addEventListener('click', () => this.sortBy(th.dataset.key ?? ''));
    }
  }

  /**
   * Shows exactly `instances` (by id). The projection replaces an instance's object whenever it changes,
   * so a row whose instance is the same object is left alone, and the rows are re-sorted only when
   * a row came or a changed instance moved in the sort column. Answers whether a row was added.
   */
  update(instances: ReadonlyMap<string, InstanceState>, now: number): boolean {
    let added = false;
    let reorder = false;
    for (const inst of instances.values()) {
      const row = this.rows.get(inst.id);
      if (row?.instance === inst) continue;
      if (row) reorder ||= this.movesInSort(row.instance, inst);
      else added = reorder = true;
      const target = row ?? this.createRow(inst);
      target.instance = inst;
      this.fill(target, now);
    }
    // Every instance has its row now: more rows than instances means some were removed.
    if (this.rows.size > instances.size) this.removeAllBut(instances);
    if (reorder) this.order();
    return added;
  }

  /** Every second: ages and countdowns move although no event arrived. */
  tick(now: number): void {
    for (const row of this.rows.values()) {
      setText(row.lastSeen, formatAgo(row.instance.last_seen, now));
      setText(
        row.nextAction,
        row.instance.status === 'offline' ? '–' : formatCountdown(row.instance.next_action_at, now),
      );
    }
  }

  /** The 24 h uptimes (percent) of the instances listed, shown in their rows; sorted once for all. */
  setUptimes(list: readonly { id: string; uptime: number | null }[]): void {
    for (const { id, uptime } of list) {
      this.uptimes.set(id, uptime);
      const row = this.rows.get(id);
      if (row) this.fillUptime(row);
    }
    if (this.sortKey === 'uptime') this.order();
  }

  /** Ids of the rows shown. */
  ids(): Iterable<string> {
    return this.rows.keys();
  }

  get size(): number {
    return this.rows.size;
  }

  private sortBy(key: string): void {
    if (!SORT_KEYS.has(key)) return;
    const sortKey = key as SortKey;
    if (sortKey === this.sortKey) this.sortDir = this.sortDir === 1 ? -1 : 1;
    else {
      this.sortKey = sortKey;
      this.sortDir = DESCENDING_FIRST.has(sortKey) ? -1 : 1;
    }
    for (const th of this.table.querySelectorAll<HTMLTableCellElement>('th[data-key]')) {
      if (th.dataset.key === this.sortKey)
        th.setAttribute('aria-sort', this.sortDir === 1 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
    this.order();
  }

  /** Whether an instance changing from `before` to `after` can change its place (ties are broken by id, which does not change). */
  private movesInSort(before: InstanceState, after: InstanceState): boolean {
    const key = this.sortKey;
    return key !== 'id' && key !== 'uptime' && before[key] !== after[key];
  }

  private removeAllBut(instances: ReadonlyMap<string, InstanceState>): void {
    for (const [id, row] of this.rows) {
      if (instances.has(id)) continue;
      row.tr.remove();
      this.rows.delete(id);
      this.uptimes.delete(id);
    }
  }

  /** Puts the rows in sort order, moving only those out of place. */
  private order(): void {
    const sorted = [...this.rows.values()].sort((a, b) => this.compare(a.instance, b.instance));
    let cursor = this.body.firstElementChild;
    for (const row of sorted) {
      if (row.tr === cursor) cursor = cursor.nextElementSibling;
      else this.body.insertBefore(row.tr, cursor);
    }
  }

  private compare(a: InstanceState, b: InstanceState): number {
    const key = this.sortKey;
    let result: number;
    if (key === 'id' || key === 'status') result = natural(a[key], b[key]);
    else if (key === 'uptime') {
      // Not read yet sorts last either way.
      const ua = this.uptimes.get(a.id) ?? null;
      const ub = this.uptimes.get(b.id) ?? null;
      if (ua === null || ub === null) return (ua === null ? 1 : 0) - (ub === null ? 1 : 0) || natural(a.id, b.id);
      result = ua - ub;
    } else if (key === 'next_action_at') {
      // Nothing planned sorts last either way.
      if (a.next_action_at === null || b.next_action_at === null)
        return (a.next_action_at === null ? 1 : 0) - (b.next_action_at === null ? 1 : 0);
      result = a.next_action_at - b.next_action_at;
    } else result = a[key] - b[key];
    return result * this.sortDir || natural(a.id, b.id);
  }

  private select(target: EventTarget | null): void {
    const id = (target as Element | null)?.closest<HTMLTableRowElement>('tr[data-id]')?.dataset.id;
    if (id !== undefined) this.onSelect(id);
  }

  private fillUptime(row: Row): void {
    const percent = this.uptimes.get(row.instance.id);
    setText(row.uptime, percent === undefined || percent === null ? '–' : formatUptime(percent));
    if (percent === undefined || percent === null) delete row.uptime.dataset.uptime;
    else row.uptime.dataset.uptime = String(percent);
    row.uptime.classList.toggle('has-failures', percent !== undefined && percent !== null && percent < 99);
  }

  private createRow(inst: InstanceState): Row {
    const tr = el('tr');
    tr.tabIndex = 0;
    tr.dataset.testid = 'instance-row';
    tr.dataset.id = inst.id;
    const idCell = el('td', 'id', inst.id);
    const statusCell = el('td');
    const badge = el('span', 'badge');
    statusCell.append(badge);
    const row: Row = {
      tr,
      badge,
      lastSeen: el('td', 'time'),
      nextAction: el('td', 'time wide'),
      // On a phone, failures and uptime say more than the attempts (the tiles have the total).
      attempts: el('td', 'num wide'),
      successes: el('td', 'num wide'),
      failures: el('td', 'num'),
      uptime: el('td', 'num uptime'),
      instance: inst,
    };
    tr.append(idCell, statusCell, row.lastSeen, row.nextAction, row.attempts, row.successes, row.failures, row.uptime);
    this.rows.set(inst.id, row);
    this.fillUptime(row);
    return row;
  }

  private fill(row: Row, now: number): void {
    const inst = row.instance;
    row.tr.dataset.status = inst.status;
    row.tr.classList.toggle('offline', inst.status === 'offline');
    row.tr.title = inst.meta
      ? Object.entries(inst.meta)
          .map(([key, value]) => `${key}: ${String(value)}`)
          .join('\n')
      : '';
    row.badge.dataset.status = inst.status;
    setText(row.badge, inst.status);
    setText(row.attempts, formatCount(inst.attempts));
    setText(row.successes, formatCount(inst.successes));
    setText(row.failures, formatCount(inst.failures));
    row.attempts.dataset.value = String(inst.attempts);
    row.failures.classList.toggle('has-failures', inst.failures > 0);
    setText(row.lastSeen, formatAgo(inst.last_seen, now));
    setText(row.nextAction, inst.status === 'offline' ? '–' : formatCountdown(inst.next_action_at, now));
  }
}
