// The protocol version on the Socket.IO handshake: a client that speaks another version is refused with a clear error, every connection starts with hello.
import type { ExtendedError, Server } from 'socket.io';
import { PROTOCOL_VERSION, refusal, type ErrorBody, type HandshakeAuth, type Hello } from '#pulse/contracts';

/** The refusal for a handshake whose `auth.protocol` is not ours, or null when it may go on (ours, or not sent). */
export function protocolMismatch(auth: unknown): ErrorBody | null {
  const asked = (auth as HandshakeAuth | undefined)?.protocol;
  if (asked === undefined || asked === PROTOCOL_VERSION) return null;
  const message = `this gateway speaks Pulse protocol ${PROTOCOL_VERSION} and the client ${JSON.stringify(asked)}: use a Pulse client (@pulse-monitor/pulse/client) of protocol ${PROTOCOL_VERSION}`;
  return { ...refusal('PROTOCOL_MISMATCH', message), protocol: PROTOCOL_VERSION };
}

/** Installs the check as the server's first middleware (before the token is read) and the hello on every connection. */
export function installProtocolVersion(server: Server): void {
  server.use((socket, next) => {
    const mismatch = protocolMismatch(socket.handshake.auth);
    if (!mismatch) return next();
    const error = new Error(mismatch.message) as ExtendedError;
    error.data = mismatch;
    next(error);
  });
  const hello: Hello = { protocol: PROTOCOL_VERSION };
  server.on('connection', (socket) => socket.emit('hello', hello));
}
