// Bounds what a gateway holds for one socket: a socket whose unsent output passes the bound is cut loose, and resumes from its seq when it returns.
import type { Logger } from '@nestjs/common';
import type { PulseSocket } from './live-hub.js';

/** The parts of an engine.io connection this guard reads (not in its public types). */
interface EngineConnection {
  /** Packets queued while the transport is busy writing earlier ones. */
  writeBuffer?: QueuedPacket[];
  transport?: { socket?: { bufferedAmount?: number; terminate?: () => void } };
  close(discard?: boolean): void;
}

/** A packet in engine.io's write buffer: socket.io and the live frames hand it over already encoded. */
interface QueuedPacket {
  data?: unknown;
  /** The WebSocket frame written as it is; a live run of messages has only its first in `data`. */
  options?: { wsPreEncodedFrame?: Buffer[] };
}

/** Bytes of one queued engine.io packet. */
function packetBytes(packet: QueuedPacket): number {
  const frame = packet.options?.wsPreEncodedFrame;
  if (frame) return frame.reduce((bytes, part) => bytes + part.byteLength, 0);
  const { data } = packet;
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 64;
}

export class SlowConsumerGuard {
  /** Sockets cut loose since the start, for logs and tests. */
  cut = 0;

  constructor(
    /** Most unsent bytes a socket may have; past it, it is disconnected. */
    private readonly maxBytes: number,
    private readonly logger?: Pick<Logger, 'warn'>,
  ) {}

  /** Output queued for the socket and not yet written: engine.io's queue (encoded packets) plus the WebSocket's own buffer. */
  buffered(socket: PulseSocket): number {
    const conn = socket.conn as unknown as EngineConnection;
    let bytes = conn.transport?.socket?.bufferedAmount ?? 0;
    for (const packet of conn.writeBuffer ?? []) {
      bytes += packetBytes(packet);
      if (bytes > this.maxBytes) break;
    }
    return bytes;
  }

  /**
   * Disconnects the socket if its unsent output passed the bound; true when it did. Called after
   * each emit to it: the socket reads slower than its topics move, and holding more for it would
   * let one stalled reader grow the gateway's memory without limit.
   */
  check(socket: PulseSocket): boolean {
    if (!socket.connected) return false;
    const bytes = this.buffered(socket);
    if (bytes <= this.maxBytes) return false;
    this.cut += 1;
    this.logger?.warn(
      `slow consumer ${socket.id} cut loose: ${bytes} bytes unsent (PULSE_SLOW_CONSUMER_BYTES=${this.maxBytes}); it resumes from its seq when it returns`,
    );
    // Socket.IO's own close ends the subscriptions now, but engine.io would then wait for the
    // queue to drain before closing, which a stalled reader never lets happen: drop the queue and
    // the connection at once. The client sees `transport close` and resumes with `since`.
    socket.disconnect(true);
    const conn = socket.conn as unknown as EngineConnection;
    conn.close(true);
    conn.transport?.socket?.terminate?.();
    return true;
  }
}
