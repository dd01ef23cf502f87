// Socket.IO edge of the live feed: validates each request and hands it to the LiveHub.
import { Logger } from '@nestjs/common';
import {
  Ack,
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import type { z } from 'zod';
import {
  badRequest,
  replayRequestSchema,
  subscribeRequestSchema,
  unsubscribeRequestSchema,
  type ErrorBody,
  type ReplayAck,
  type SubscribeAck,
  type UnsubscribeAck,
} from '#pulse/contracts';
import { LiveHub, type PulseServer, type PulseSocket } from './live-hub.js';

type AckFn<T> = ((answer: T) => void) | undefined;

/** Parses a payload, or answers BAD_REQUEST naming every wrong field. */
function parse<S extends z.ZodType>(schema: S, payload: unknown, ack: AckFn<ErrorBody>): z.infer<S> | undefined {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  ack?.(badRequest(result.error));
  return undefined;
}

@WebSocketGateway()
export class LiveGateway implements OnGatewayInit, OnGatewayDisconnect {
  private readonly logger = new Logger(LiveGateway.name);
  @WebSocketServer() server!: PulseServer;

  constructor(private readonly hub: LiveHub) {}

  afterInit(server: PulseServer): void {
    this.hub.attach(server);
  }

  handleDisconnect(socket: PulseSocket): void {
    this.hub.disconnected(socket);
  }

  @SubscribeMessage('subscribe')
  async subscribe(@ConnectedSocket() socket: PulseSocket, @MessageBody() payload: unknown, @Ack() ack: AckFn<SubscribeAck>): Promise<void> {
    const request = parse(subscribeRequestSchema, payload, ack);
    if (request) await this.hub.subscribe(socket, request, ack ?? (() => undefined));
  }

  @SubscribeMessage('replay')
  async replay(@MessageBody() payload: unknown, @Ack() ack: AckFn<ReplayAck>): Promise<void> {
    const request = parse(replayRequestSchema, payload, ack);
    if (!request) return;
    try {
      ack?.(await this.hub.replay(request));
    } catch (error) {
      this.logger.warn(`replay of ${request.topic} failed: ${(error as Error).message}`);
      ack?.({ ok: false, code: 'UNAVAILABLE', message: `cannot read the log of ${request.topic} now; retry shortly` });
    }
  }

  @SubscribeMessage('unsubscribe')
  unsubscribe(@ConnectedSocket() socket: PulseSocket, @MessageBody() payload: unknown, @Ack() ack: AckFn<UnsubscribeAck>): void {
    const request = parse(unsubscribeRequestSchema, payload, ack);
    if (!request) return;
    this.hub.unsubscribeRequested(socket, request.topic);
    ack?.({ ok: true, topic: request.topic });
  }
}
