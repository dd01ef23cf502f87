// Compacts the listener table of a socket's event emitters once they are set up: an idle connection keeps them for life.

/** The prototype of a compacted table: nothing to inherit, as in Node's own `{ __proto__: null }` table. */
const NOTHING: object = Object.freeze(Object.create(null) as object);

/** The part of Node's EventEmitter this reads (not in its public types). */
interface Emitter {
  _events?: unknown;
}

/**
 * Node's EventEmitter keeps an emitter's listeners in `_events`, an object without prototype,
 * which V8 holds as a hash table (dictionary mode): 160 bytes for up to three event names and 256
 * for four to six, per emitter, for as long as it lives. The same names in an object with an
 * (empty, frozen) prototype are plain fields: 8 bytes each. The emitter behaves the same (Node
 * reads and writes the table as an ordinary object). A table that is not the plain object
 * expected (a Node version that keeps listeners otherwise) is left as it is.
 */
export function compactListeners(emitter: object): void {
  const table = (emitter as Emitter)._events;
  if (!Object.hasOwn(emitter, '_events') || typeof table !== 'object' || table === null) return;
  if (Object.getPrototypeOf(table) !== null) return;
  const compact = Object.create(NOTHING) as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(table)) compact[key] = (table as Record<PropertyKey, unknown>)[key];
  (emitter as Emitter)._events = compact;
}

/** The parts of a socket's engine.io connection this reaches (its transport's WebSocket is not in the public types). */
interface Connection {
  conn?: { transport?: { socket?: unknown } };
}

/**
 * Compacts the listener tables of a connected socket, its engine.io connection, the connection's
 * transport and that transport's WebSocket (the ws one): each has all its listeners by the time
 * the socket connects. Whatever is not there (another transport, another version) is skipped.
 */
export function compactConnection(socket: object): void {
  compactListeners(socket);
  const conn = (socket as Connection).conn;
  if (typeof conn !== 'object' || conn === null) return;
  compactListeners(conn);
  const transport = conn.transport;
  if (typeof transport !== 'object' || transport === null) return;
  compactListeners(transport);
  if (typeof transport.socket === 'object' && transport.socket !== null) compactListeners(transport.socket);
}
