// The AsyncAPI 3 document of the Socket.IO protocol, generated from the contracts' zod schemas; the maps below must name every event of the protocol (the compiler checks).
import { z } from 'zod';
import {
  EVENT_TYPES,
  PROTOCOL_VERSION,
  type ClientToServerEvents,
  type EventType,
  type ServerToClientEvents,
} from '#pulse/contracts';
import {
  errorBodySchema,
  eventSchema,
  helloSchema,
  jsonSchema,
  presenceSchema,
  replayOkSchema,
  replayRequestSchema,
  resyncSchema,
  subscribeOkSchema,
  subscribeRequestSchema,
  typedEventSchema,
  unsubscribeOkSchema,
  unsubscribeRequestSchema,
} from './schemas.js';

/** Client → server requests: the request and its ack. */
export const CLIENT_MESSAGES: Record<
  keyof ClientToServerEvents,
  { summary: string; request: z.ZodType; ack: z.ZodType }
> = {
  subscribe: {
    summary:
      'Follow a topic: a snapshot (or the events missed since `since`), then live events. The answer carries at most PULSE_MAX_ACK_BYTES (1 MiB) of events: a resume that missed more is still `recovered` with the head, and the rest follows at once as event frames, in order, before any live event. A resume costs one more rate-limit point per PULSE_RATE_LIMIT_EVENTS_PER_POINT (100) events missed. Any valid topic is a log, possibly empty: before its first event the answer is `epoch: null, head: 0` with an empty snapshot (seq 0), and its first events arrive live from seq 1. `batch: true` asks for `events` frames instead of one message per event; `presence: true` asks for `presence` frames (viewer counts), which a socket that does not ask never gets',
    request: subscribeRequestSchema,
    ack: z.union([subscribeOkSchema, errorBodySchema]),
  },
  replay: {
    summary:
      'Events of a topic from `fromSeq` (at most `limit` ≤ 1000, and at most PULSE_MAX_ACK_BYTES of them, one at least: read on from the seq after the last); it costs one more rate-limit point per PULSE_RATE_LIMIT_EVENTS_PER_POINT events it reads (up to `limit`); a topic with no events answers `epoch: null, head: 0, events: []`',
    request: replayRequestSchema,
    ack: z.union([replayOkSchema, errorBodySchema]),
  },
  unsubscribe: {
    summary: 'Stop following a topic',
    request: unsubscribeRequestSchema,
    ack: z.union([unsubscribeOkSchema, errorBodySchema]),
  },
};

/** Server → client events. */
export const SERVER_MESSAGES: Record<keyof ServerToClientEvents, { summary: string; payload: z.ZodType }> = {
  hello: {
    summary: 'The first message on every connection: the protocol version the gateway speaks (`info.version`)',
    payload: helloSchema,
  },
  events: {
    summary: 'Batch mode (`batch: true`): every pending event of one topic, in seq order',
    payload: z.array(eventSchema),
  },
  presence: {
    summary:
      'Sockets live on the topic across all gateways (every viewer, whether it asked for presence or not), when it changes; sent only to sockets that subscribed with `presence: true`',
    payload: presenceSchema,
  },
  resync: {
    summary: 'Continuity of the topic is lost: subscribe again without `since` for a snapshot',
    payload: resyncSchema,
  },
  ...(Object.fromEntries(
    EVENT_TYPES.map((type) => [
      type,
      { summary: `A ${type} event of a followed topic (without batch mode)`, payload: typedEventSchema(type) },
    ]),
  ) as Record<EventType, { summary: string; payload: z.ZodType }>),
};

/** AsyncAPI message and operation names may not contain dots. */
const id = (name: string) => name.replace(/\./g, '_');
const messageRef = (name: string) => ({ $ref: `#/channels/socket/messages/${id(name)}` });

/** The document served at /asyncapi.json. */
export function asyncApiDocument(): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CLIENT_MESSAGES)) {
    messages[id(name)] = {
      name,
      title: name,
      summary: spec.summary,
      payload: jsonSchema(spec.request, 'draft-7', 'input'),
    };
    messages[`${id(name)}Ack`] = {
      name: `${name} ack`,
      title: `${name} ack`,
      summary: `The answer to ${name}, through the Socket.IO acknowledgement`,
      payload: jsonSchema(spec.ack, 'draft-7'),
    };
    operations[id(name)] = {
      action: 'receive',
      channel: { $ref: '#/channels/socket' },
      summary: spec.summary,
      messages: [messageRef(name)],
      reply: { channel: { $ref: '#/channels/socket' }, messages: [messageRef(`${name}Ack`)] },
    };
  }
  for (const [name, spec] of Object.entries(SERVER_MESSAGES)) {
    messages[id(name)] = { name, title: name, summary: spec.summary, payload: jsonSchema(spec.payload, 'draft-7') };
    operations[`send_${id(name)}`] = {
      action: 'send',
      channel: { $ref: '#/channels/socket' },
      summary: spec.summary,
      messages: [messageRef(name)],
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Pulse live feed (Socket.IO)',
      // The protocol version: what a client sends as `auth.protocol` and `hello` answers.
      version: String(PROTOCOL_VERSION),
      description:
        "Socket.IO namespace `/`. Every event of a followed topic once, in seq order, or an explicit `resync`. `info.version` is the protocol version: a client sends the one it speaks as `auth.protocol` in the handshake, a gateway that speaks another refuses the connection (`connect_error` data: BAD_REQUEST, reason PROTOCOL_MISMATCH, `protocol`: the gateway's), and every connection starts with `hello { protocol }` from the gateway. With auth on, the handshake carries `auth: { token }` (or an `Authorization: Bearer` header; a token in the query string is ignored); a refused handshake fails with `connect_error` whose `data` is an Error body (UNAUTHORIZED / FORBIDDEN / RATE_LIMITED with a `reason`). A socket whose token expires is disconnected; reconnecting needs a valid token. Each request answers through its acknowledgement. The message names are Socket.IO event names.",
    },
    defaultContentType: 'application/json',
    servers: {
      gateway: {
        host: '127.0.0.1:3000',
        protocol: 'ws',
        pathname: '/socket.io/',
        description: 'Any gateway (Engine.IO v4 over WebSocket, or HTTP long-polling)',
        security: [{ $ref: '#/components/securitySchemes/token' }],
      },
    },
    channels: { socket: { address: '/', title: 'Namespace /', messages } },
    operations,
    components: {
      securitySchemes: {
        token: {
          type: 'httpApiKey',
          name: 'token',
          in: 'query',
          description:
            'A Pulse JWT, sent as `auth.token` in the Socket.IO handshake (the CONNECT packet), not in the URL',
        },
      },
    },
  };
}
