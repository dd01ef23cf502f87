// The socket protocol's version and the handshake that carries it; a module of its own so that the SDK imports no schema (and no zod) with it.

/**
 * The version of the socket protocol (namespace `/`) these contracts describe. A client sends it in
 * the handshake (`auth.protocol`); a gateway that speaks another refuses the connection with
 * PROTOCOL_MISMATCH, and every gateway's first message on a connection is `hello` with its own.
 * It goes up with any change that a peer of the previous version would misread.
 *
 * 3: `presence` frames only to sockets that subscribed with `presence: true` (a protocol-2 client
 * would take their absence for an unchanged count; a protocol-2 gateway refuses the field).
 */
export const PROTOCOL_VERSION = 3;

/** What a client may send as the Socket.IO handshake's `auth` (a type, not an interface: it is Socket.IO's `Record<string, unknown>`). */
export type HandshakeAuth = {
  /** A Pulse JWT (needed when the gateways check tokens). */
  token?: string;
  /** The protocol version the client speaks. @default not sent: the gateway does not check (plain Socket.IO clients) */
  protocol?: number;
};

/** The gateway's first message on every connection. */
export interface Hello {
  /** The protocol version the gateway speaks. */
  protocol: number;
}
