// REST edge of access control: the Bearer token, the route's action and :topic, and the per-token rate.
import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { Principal } from '#pulse/auth';
import { topicSchema } from '#pulse/contracts';
import { parseOr400 } from '../api/http-error.js';
import { ACCESS_KEY, type RouteAccess } from './access.decorator.js';
import { AuthService, tokenFromHeader } from './auth.service.js';
import { LimitsService } from './limits.service.js';

/** A request as the guard (or the token check before its body) leaves it: with the caller. */
export type WithPrincipal = IncomingMessage & { principal?: Principal };
export type AuthedRequest = Request & WithPrincipal;

@Injectable()
export class HttpAuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(LimitsService) private readonly limits: LimitsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Global guards run for gateway handlers too: sockets are checked by the SocketGuard instead.
    if (context.getType() !== 'http') return true;
    const access =
      this.reflector.getAllAndOverride<RouteAccess | undefined>(ACCESS_KEY, [
        context.getHandler(),
        context.getClass(),
      ]) ?? 'admin';
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    await this.admit(request, access, request.params?.topic);
    return true;
  }

  /**
   * Lets the request through for `access` on the route's `rawTopic` (if it has one), leaving the
   * caller on `request.principal` and answering the topic as parsed, or throws the refusal
   * (AccessDenied, or 400 for a bad topic).
   * Nest's routes get here through canActivate; the ingest route, served past Nest, directly.
   */
  async admit(request: WithPrincipal, access: RouteAccess, rawTopic: unknown): Promise<string | undefined> {
    if (access === 'public') return undefined;
    // A request with a body was authenticated before its body was read (refuseBodiesWithoutToken).
    request.principal ??= await this.auth.authenticate(tokenFromHeader(request.headers.authorization));
    // A valid topic name first: patterns are matched against at most 64 known characters.
    const topic = typeof rawTopic === 'string' ? parseOr400(topicSchema, rawTopic, 'topic') : undefined;
    this.auth.authorize(request.principal, access, topic);
    if (this.auth.enabled) await this.limits.consumeToken(request.principal);
    return topic;
  }
}
