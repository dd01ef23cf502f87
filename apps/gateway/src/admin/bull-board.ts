// Bull Board at /admin/queues: the monitor-tick queue, its scheduler and jobs, for admins (read-only while auth is off).
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NextFunction, Request, Response } from 'express';
import { MONITOR_QUEUE, NOTIFY_QUEUE } from '#pulse/contracts';
import { AccessDenied } from '../auth/access-denied.js';
import { AuthService, tokenFromHeader } from '../auth/auth.service.js';
import { MonitorQueueService } from './monitor-queue.service.js';

export const BULL_BOARD_PATH = '/admin/queues';

/** No page may show this one in a frame (clickjacking of the board's buttons or the dashboard's token prompt). */
function denyFraming(response: { setHeader(name: string, value: string): unknown }): void {
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
}

/**
 * Mounts Bull Board. With auth on it takes an admin token as `Authorization: Bearer <token>`,
 * or as the password of HTTP Basic (any user name), which is what a browser can send: it asks
 * for it on a 401. With auth off it is open like every admin endpoint, but read-only.
 */
export function mountBullBoard(app: NestExpressApplication): void {
  const auth = app.get(AuthService);
  const { queue, notifyQueue } = app.get(MonitorQueueService);
  const serverAdapter = new ExpressAdapter().setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: [
      new BullMQAdapter(queue, {
        readOnlyMode: !auth.enabled,
        displayName: `${MONITOR_QUEUE} (monitor-tick scheduler)`,
        description:
          'Monitor ticks: one job per scheduled run of the monitor-tick job scheduler (and per POST /api/v1/admin/tick)',
      }),
      new BullMQAdapter(notifyQueue, {
        readOnlyMode: !auth.enabled,
        displayName: `${NOTIFY_QUEUE} (alert notifications)`,
        description:
          'One job per (alert transition or group, channel); the job id is the Pulse-Delivery-Id. Failed ones keep their error and can be retried here.',
      }),
    ],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Pulse queues' } },
  });
  const guard = (request: Request, response: Response, next: NextFunction) => {
    denyFraming(response);
    auth
      .authenticate(tokenFromHeader(request.headers.authorization))
      .then((principal) => auth.authorize(principal, 'admin'))
      .then(
        () => next(),
        (error: unknown) => {
          if (!(error instanceof AccessDenied)) return next(error);
          if (error.status === 401)
            response.setHeader(
              'WWW-Authenticate',
              'Basic realm="Pulse admin: paste an admin token as the password", charset="UTF-8"',
            );
          response.status(error.status).json(error.body);
        },
      );
  };
  app.use(
    BULL_BOARD_PATH,
    guard,
    serverAdapter.getRouter() as (request: Request, response: Response, next: NextFunction) => void,
  );
}
