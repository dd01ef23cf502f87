// REST edge of access control: the Bearer token, the route's action and :topic, and the per-token rate.
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { Principal } from '#pulse/auth';
import { topicSchema } from '#pulse/contracts';
import { parseOr400 } from '../api/http-error.js';
import { ACCESS_KEY, type RouteAccess } from './access.decorator.js';
import { AuthService, tokenFromHeader } from './auth.service.js';
import { LimitsService } from './limits.service.js';

/** The request as the guard leaves it: with the caller. */
export type AuthedRequest = Request & { principal?: Principal };

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
    if (access === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    // A request with a body was authenticated before its body was read (refuseBodiesWithoutToken).
    request.principal ??= await this.auth.authenticate(tokenFromHeader(request.headers.authorization));
    // A valid topic name first: patterns are matched against at most 64 known characters.
    const topic =
      typeof request.params?.topic === 'string' ? parseOr400(topicSchema, request.params.topic, 'topic') : undefined;
    this.auth.authorize(request.principal, access, topic);
    if (this.auth.enabled) await this.limits.consumeToken(request.principal);
    return true;
  }
}
