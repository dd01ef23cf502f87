// POST /api/v1/topics/:topic/events, the request producers send most: served in front of Express, through the same edge, guard and error answers.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { authEnabled, PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { ingestBodySchema, type IngestBody } from '#pulse/contracts';
import { EventStore } from '#pulse/event-store';
import { HttpAuthGuard, type WithPrincipal } from '../auth/http-auth.guard.js';
import { runEdge, type EdgeStep } from '../http-edge.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { cardinalityRefusal } from './cardinality-refusal.js';
import { HttpErrorFilter, parseOr400, PulseHttpError, sendJson, topicUnavailable } from './http-error.js';
import { scopedIdempotencyKey } from './idempotency-scope.js';

/** The route's path, matched as Express would: any letter case, an optional trailing slash, the query aside. */
const INGEST_PATH = /^\/api\/v1\/topics\/([^/]+)\/events\/?$/i;
/** The scheme and host of a request target in absolute form (`http://host:port/path`). */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i;

type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

const logger = new Logger('IngestRoute');

/**
 * The ingest route. It is not a Nest route: Express's router and Nest's handler pipeline cost a
 * third of the gateway's CPU per ingest request at 100–300 requests/s and half from 1,000/s
 * (npm run bench:ingest). It runs the very steps Express runs before every route (`httpEdge`:
 * request id and log, drain, origin, CORS, the token before the body, the JSON body), then the
 * REST guard's check (`HttpAuthGuard.admit`), and answers errors through the REST error filter.
 */
@Injectable()
export class IngestRoute {
  /** Idempotency keys are the token's (its sub), or with auth off the request's source's. */
  private readonly keysByToken: boolean;
  private readonly maxMetaBytes: number;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(HttpAuthGuard) private readonly guard: HttpAuthGuard,
    @Inject(HttpErrorFilter) private readonly errors: HttpErrorFilter,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    this.keysByToken = authEnabled(config);
    this.maxMetaBytes = config.PULSE_MAX_META_BYTES;
  }

  /**
   * Puts the route in front of the server's request listeners (Express, and engine.io's, which
   * wraps Express's): a POST to the ingest path is served here, after `edge`; every other request
   * goes to them as before.
   */
  serveBefore(server: Server, edge: readonly EdgeStep[]): void {
    const others = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const rawTopic = request.method === 'POST' ? topicInPath(request.url) : undefined;
      if (rawTopic === undefined) {
        for (const listener of others) listener.call(server, request, response);
        return;
      }
      runEdge(edge, request, response, (error) => {
        if (error !== undefined) return this.fail(error, response);
        this.ingest(request as WithPrincipal & { body?: unknown }, rawTopic)
          .then((appended) => sendJson(response, 201, appended))
          .catch((failure: unknown) => this.fail(failure, response));
      });
    });
  }

  /** Answers the error; should even that throw, logs it and cuts the connection: nothing may escape (an unhandled error ends the process). */
  private fail(error: unknown, response: ServerResponse): void {
    try {
      this.errors.answer(error, response);
    } catch (broken) {
      logger.error(`an ingest request could not be answered: ${(broken as Error)?.stack ?? String(broken)}`);
      response.destroy();
    }
  }

  /** Appends a batch atomically: all events get seqs, or none (503). */
  private async ingest(
    request: WithPrincipal & { body?: unknown },
    rawTopic: string,
  ): Promise<{ epoch: string; seqs: number[] }> {
    // A publish route always has its topic: admit parsed it (400 for a bad one).
    const topic = (await this.guard.admit(request, 'publish', rawTopic))!;
    const body = parseOr400(ingestBodySchema, request.body ?? {});
    this.checkMetaBytes(body);
    // One producer cannot claim another's keys (and have its events dropped as repeats).
    const scope = this.keysByToken ? request.principal!.sub : (body.source ?? '');
    try {
      const appended = await this.store.append(
        topic,
        body.events.map((event) => ({
          type: event.type,
          data: event.data,
          idempotencyKey: scopedIdempotencyKey(scope, event.idempotencyKey),
          source: body.source,
        })),
        // Topic quotas are per token: with auth off there is none (the topic cap still holds).
        { creator: this.keysByToken ? request.principal!.sub : undefined },
      );
      this.metrics.appended(topic, body.events);
      return appended;
    } catch (error) {
      throw cardinalityRefusal(error) ?? topicUnavailable(topic, error);
    }
  }

  /** 400 naming the first heartbeat whose meta is larger than PULSE_MAX_META_BYTES. */
  private checkMetaBytes(body: IngestBody): void {
    body.events.forEach((event, i) => {
      if (event.type !== 'instance.heartbeat' || event.data.meta === undefined) return;
      const bytes = Buffer.byteLength(JSON.stringify(event.data.meta));
      if (bytes <= this.maxMetaBytes) return;
      const message = `meta is ${bytes} bytes of JSON, more than PULSE_MAX_META_BYTES (${this.maxMetaBytes})`;
      throw new PulseHttpError(400, {
        ok: false,
        code: 'BAD_REQUEST',
        message: `events.${i}.data.meta: ${message}`,
        issues: [{ path: `events.${i}.data.meta`, message }],
      });
    });
  }
}

/**
 * The :topic of an ingest request's URL, percent-decoded as Express decodes params (a bad escape
 * stays as sent: the topic check refuses it); undefined for any other path. An absolute-form URL
 * (`http://host/path`, as a proxy may send) is matched by its path, as Express matches it.
 */
export function topicInPath(url: string | undefined): string | undefined {
  const query = url?.indexOf('?') ?? -1;
  const target = query === -1 ? (url ?? '') : url!.slice(0, query);
  // Its path as sent (not normalised, as Express's URL parsing leaves it).
  const match = INGEST_PATH.exec(target.replace(ABSOLUTE_FORM, ''));
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return match[1]!;
  }
}
