// What a REST route needs: `public` (health, docs), or an action checked against the caller's token (and the route's :topic).
import { SetMetadata } from '@nestjs/common';
import type { Action } from '#pulse/auth';

export type RouteAccess = Action | 'public';
export const ACCESS_KEY = 'pulse:access';

/** Declares what a controller or route needs; routes without it need an admin token. */
export const Access = (access: RouteAccess) => SetMetadata(ACCESS_KEY, access);
