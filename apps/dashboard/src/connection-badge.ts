// The connection badge: gateway in use, SDK state, viewers across gateways, and what the last reconnect recovered.
import type { ConnectionState } from '#pulse/client';
import { required, setText } from './dom.js';
import { formatClock, formatCount } from './format.js';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'connecting',
  live: 'live',
  recovering: 'recovering',
  stale: 'stale',
};

export class ConnectionBadge {
  private readonly state: HTMLElement;
  private readonly gateway: HTMLElement;
  private readonly viewerCount: HTMLElement;
  private readonly recoveredNote: HTMLElement;

  constructor(private readonly root: HTMLElement) {
    this.state = required(root, '[data-testid="connection-state"]');
    this.gateway = required(root, '[data-testid="connection-gateway"]');
    this.viewerCount = required(root, '[data-testid="viewers"]');
    this.recoveredNote = required(root, '[data-testid="recovered"]');
  }

  show(state: ConnectionState, gateway: string): void {
    this.root.dataset.state = state;
    setText(this.state, LABELS[state]);
    setText(this.gateway, hostOf(gateway));
    this.gateway.title = `Gateway in use: ${gateway}`;
  }

  viewers(count: number | null): void {
    this.viewerCount.dataset.value = count === null ? '' : String(count);
    setText(this.viewerCount, count === null ? '' : `${formatCount(count)} ${count === 1 ? 'viewer' : 'viewers'}`);
  }

  /** After a reconnect that resumed the topic: `missed` events were replayed. */
  recovered(missed: number, gateway: string, at: number): void {
    this.recoveredNote.hidden = false;
    this.recoveredNote.dataset.missed = String(missed);
    this.recoveredNote.title = `Resumed on ${gateway} at ${formatClock(at)}`;
    setText(
      this.recoveredNote,
      missed === 0
        ? 'resumed, nothing missed'
        : `recovered ${formatCount(missed)} missed ${missed === 1 ? 'event' : 'events'}`,
    );
  }

  clearRecovered(): void {
    this.recoveredNote.hidden = true;
    delete this.recoveredNote.dataset.missed;
    setText(this.recoveredNote, '');
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
