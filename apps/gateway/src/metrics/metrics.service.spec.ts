// The metrics page stays bounded: topic labels past MAX_TOPIC_LABELS are counted under topic="other".
import { expect, it } from '@jest/globals';
import type { EventStore, RedisConnection } from '#pulse/event-store';
import type { MonitorQueueService } from '../admin/monitor-queue.service.js';
import type { SocketGuard } from '../auth/socket-guard.js';
import type { LiveHub } from '../live/live-hub.js';
import type { LogTail } from '../live/log-tail.js';
import { MAX_TOPIC_LABELS, MetricsService } from './metrics.service.js';

it(`labels the first ${MAX_TOPIC_LABELS} topics by name and counts the others under topic="other"`, async () => {
  const metrics = new MetricsService(
    {} as LiveHub,
    { topics: [], failures: 0 } as unknown as LogTail,
    {} as SocketGuard,
    {
      status: () => Promise.reject(new Error('no Redis in this spec')),
      notifyStatus: () => Promise.reject(new Error('no Redis in this spec')),
    } as unknown as MonitorQueueService,
    {} as RedisConnection,
    {
      alerts: {
        firing: () => Promise.reject(new Error('no Redis')),
        notificationCounts: () => Promise.reject(new Error('no Redis')),
      },
    } as unknown as EventStore,
  );
  for (let i = 0; i < MAX_TOPIC_LABELS + 5; i++) metrics.appended(`t${i}`, [{ type: 'instance.heartbeat' }]);
  metrics.appended('t0', [{ type: 'instance.heartbeat' }]);
  const { body } = await metrics.text();
  const samples = body.split('\n').filter((line) => line.startsWith('pulse_events_appended_total{'));
  expect(samples).toHaveLength(MAX_TOPIC_LABELS + 1);
  expect(samples).toContain('pulse_events_appended_total{topic="t0",type="instance.heartbeat"} 2');
  expect(samples).toContain('pulse_events_appended_total{topic="other",type="instance.heartbeat"} 5');
});
