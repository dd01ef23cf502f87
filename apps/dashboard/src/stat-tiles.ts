// The statistic tiles and the monitor-loop tile (loop count, countdown to the next tick).
import type { Snapshot, Statistics } from '#pulse/contracts';
import { required, setText } from './dom.js';
import { formatCount, formatCountdown, formatDuration, formatPercent } from './format.js';

type StatKey = keyof Statistics;

const KEYS: StatKey[] = ['total_attempts', 'successful', 'failed', 'success_rate', 'active_instances'];

export class StatTiles {
  private readonly tiles: Map<StatKey, HTMLElement>;
  private readonly loop: HTMLElement;
  private readonly nextTick: HTMLElement;
  private readonly tickTile: HTMLElement;

  constructor(root: ParentNode) {
    this.tiles = new Map(KEYS.map((key) => [key, required(root, `[data-testid="tile-${key}"]`)]));
    this.tickTile = required(root, '[data-testid="tick-status"]');
    this.loop = required(this.tickTile, '[data-testid="loop-count"]');
    this.nextTick = required(this.tickTile, '[data-testid="next-tick"]');
  }

  /** `known`: instances in the table (active ones are those not offline). */
  render(stats: Statistics | null, known = 0): void {
    for (const key of KEYS) {
      const tile = this.tiles.get(key)!;
      const value = stats?.[key];
      tile.dataset.value = value === undefined ? '' : String(value);
      text(
        tile,
        '.value',
        value === undefined ? '–' : key === 'success_rate' ? formatPercent(value) : formatCount(value),
      );
    }
    if (!stats) {
      for (const tile of this.tiles.values()) text(tile, '.sub', '');
      return;
    }
    const share = (n: number) =>
      stats.total_attempts > 0 ? `${formatPercent((n * 100) / stats.total_attempts)} of attempts` : 'no attempts yet';
    text(this.tiles.get('successful')!, '.sub', share(stats.successful));
    text(this.tiles.get('failed')!, '.sub', share(stats.failed));
    const offline = known - stats.active_instances;
    text(
      this.tiles.get('active_instances')!,
      '.sub',
      `of ${formatCount(known)} known${offline > 0 ? ` · ${formatCount(offline)} offline` : ''}`,
    );
    const meter = this.tiles.get('success_rate')!.querySelector<HTMLElement>('.meter span');
    if (meter) meter.style.width = `${stats.success_rate}%`;
  }

  /** Attempts within the last minute, under the total. */
  renderRecent(lastMinute: number | null): void {
    text(
      this.tiles.get('total_attempts')!,
      '.sub',
      lastMinute === null ? '' : `${formatCount(lastMinute)} in the last minute`,
    );
  }

  /** Re-rendered every second: the countdown is local, from next_tick_at. */
  renderTick(status: Snapshot['status'], now: number): void {
    this.loop.dataset.value = status ? String(status.loop_count) : '';
    this.loop.textContent = status ? `#${formatCount(status.loop_count)}` : '–';
    if (!status) {
      this.nextTick.textContent = 'waiting for the first tick';
      this.tickTile.dataset.health = '';
      return;
    }
    // One whole interval past the announced time: the monitor loop is not running.
    const interval = Math.max(1, status.next_tick_at - status.tick_at);
    const overdue = now - status.next_tick_at;
    this.tickTile.title = `The monitor loop ticks every ${formatInterval(interval)}`;
    if (overdue > interval + 1000) {
      this.nextTick.textContent = `no tick for ${formatDuration(now - status.tick_at)}: is a worker running?`;
      this.tickTile.dataset.health = 'late';
    } else {
      const countdown = formatCountdown(status.next_tick_at, now);
      this.nextTick.textContent = `next tick ${countdown === 'now' ? 'due now' : countdown}`;
      this.tickTile.dataset.health = 'ok';
    }
  }
}

function text(root: ParentNode, selector: string, value: string): void {
  setText(root.querySelector(selector), value);
}

const formatInterval = (ms: number): string => (ms < 1000 ? `${ms} ms` : formatDuration(ms));
