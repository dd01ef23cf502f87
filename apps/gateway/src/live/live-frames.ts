// A batch of events encoded once for every socket of its topic, and written to each socket in one piece: a plain socket's run of events too.
import type { PulseEvent } from '#pulse/contracts';
import type { PulseSocket } from './live-socket.js';

/** Socket.IO's EVENT packet type (socket.io-parser's PacketType.EVENT). */
const EVENT = 2;

/** What encodes a Socket.IO packet: the server's own encoder (`server.encoder`). */
export interface PacketEncoder {
  encode(packet: { type: number; nsp: string; data: unknown[] }): unknown[];
}

/**
 * engine.io's socket as the frames write to it (not all of it in its public types). Its websocket
 * transport writes `wsPreEncodedFrame` as it is (unless compression is on); other transports
 * encode `data`.
 */
interface EngineSocket {
  write(data: string, options: { wsPreEncodedFrame: Buffer[] }): unknown;
  readonly readyState: string;
  /** Packets waiting for the transport. */
  readonly writeBuffer?: unknown[];
  readonly transport: {
    readonly name: string;
    /** False while a write of engine.io's is in flight. */
    readonly writable: boolean;
    /** The `ws` WebSocket of a websocket transport; its sender writes a frame as it is (as engine.io does). */
    readonly socket?: { readonly readyState: number; readonly _sender?: FrameSender };
  };
}

interface FrameSender {
  sendFrame(frame: Buffer[]): void;
}

/**
 * The sender of the socket's WebSocket while engine.io has nothing queued or in flight on it: a
 * frame written there goes out after everything engine.io wrote and before anything it writes
 * next, without engine.io's bookkeeping of a packet (its events, callbacks and write-completion
 * tick), which costs as much per socket as the rest of the delivery does. Null otherwise.
 */
function idleSender(conn: EngineSocket): FrameSender | null {
  const { transport } = conn;
  // Internals of engine.io and ws (versions pinned by the lockfile; live-frames.spec.ts holds the
  // order against the real ones): anything unexpected there means "not idle", and engine.io writes.
  if (conn.readyState !== 'open' || conn.writeBuffer?.length !== 0 || transport.writable !== true) return null;
  if (transport.name !== 'websocket' || transport.socket?.readyState !== 1) return null;
  const sender = transport.socket._sender;
  return typeof sender?.sendFrame === 'function' ? sender : null;
}

/** One Socket.IO packet: its engine.io payload and its WebSocket frame (as engine.io takes it). */
interface Frame {
  data: string;
  ws: [Buffer];
}

/** The header of an unmasked, final WebSocket text frame of `length` bytes (RFC 6455 §5.2). */
function wsHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, length]);
  if (length < 65_536) return Buffer.from([0x81, 126, length >> 8, length & 0xff]);
  const header = Buffer.alloc(10);
  header[0] = 0x81;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

export class LiveFrames {
  private batchFrame?: Frame;
  private singleFrames?: Frame[];
  private burst?: [Buffer];

  /**
   * @param encoder the server's packet encoder
   * @param events contiguous events of one topic, in seq order
   * @param burstable whether a run of messages may go to a websocket as one write (false while
   * the server compresses: its transport then encodes each packet's `data` itself)
   */
  constructor(
    private readonly encoder: PacketEncoder,
    private readonly events: PulseEvent[],
    private readonly burstable: boolean,
  ) {}

  /**
   * Writes the events to the socket: one `events` frame when it subscribed in batch mode, else one
   * message per event under its type. Frames are encoded on first use and shared by every socket;
   * a socket on a websocket gets all of them in one write (one syscall, one TCP segment or a few).
   */
  write(socket: PulseSocket, batch: boolean): void {
    const conn = socket.conn as unknown as EngineSocket;
    const sender = this.burstable ? idleSender(conn) : null;
    if (batch) return send(conn, sender, (this.batchFrame ??= this.frame('events', this.events)));
    const singles = (this.singleFrames ??= this.events.map((event) => this.frame(event.type, event)));
    if (singles.length === 1) return send(conn, sender, singles[0]!);
    if (this.burstable && conn.transport.name === 'websocket') {
      // All the messages' frames back to back, as one engine.io packet: the client reads them as
      // the same messages, in the same order, as if each had been written on its own.
      const burst = (this.burst ??= [Buffer.concat(singles.map((frame) => frame.ws[0]))]);
      if (sender) sender.sendFrame(burst);
      else conn.write(singles[0]!.data, { wsPreEncodedFrame: burst });
    } else for (const frame of singles) send(conn, null, frame);
  }

  private frame(name: string, payload: unknown): Frame {
    const [data] = this.encoder.encode({ type: EVENT, nsp: '/', data: [name, payload] }) as [string];
    // "4" is engine.io's message packet type.
    const body = Buffer.from(`4${data}`);
    return { data, ws: [Buffer.concat([wsHeader(body.length), body])] };
  }
}

function send(conn: EngineSocket, sender: FrameSender | null, frame: Frame): void {
  if (sender) return sender.sendFrame(frame.ws);
  // A new options object each time: engine.io writes its defaults into it.
  conn.write(frame.data, { wsPreEncodedFrame: frame.ws });
}
