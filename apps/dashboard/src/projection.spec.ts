// The dashboard's projection (snapshot + later events) agrees with the fold of the whole log at every seq, ticks or not.
import { describe, expect, it } from '@jest/globals';
import type { EventData, EventType, PulseEvent, Snapshot } from '#pulse/contracts';
import { emptyState, foldEvent, instancesOf, statisticsOf, type ProjectionState } from '#pulse/contracts';
import { Projection } from './projection.js';

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A log as producers and ticks write it: heartbeats, attempts, and ticks restating the projection. */
function log(seed: number, length: number): PulseEvent[] {
  const next = random(seed);
  const server = emptyState();
  const events: PulseEvent[] = [];
  let ts = 1_700_000_000_000;
  let loop = 0;
  const push = <T extends EventType>(type: T, data: EventData<T>) => {
    const event = { topic: 't', seq: events.length + 1, epoch: 'e1', type, ts, data } as PulseEvent;
    foldEvent(server, event);
    events.push(event);
  };
  while (events.length < length) {
    ts += Math.floor(next() * 2000);
    const id = `i-${1 + Math.floor(next() * 6)}`;
    const roll = next();
    if (roll < 0.3)
      push('instance.heartbeat', {
        instanceId: id,
        status: next() < 0.5 ? 'idle' : 'working',
        nextActionAt: ts + 3000,
      });
    else if (roll < 0.8) push('attempt.recorded', { instanceId: id, outcome: next() < 0.8 ? 'success' : 'failure' });
    else {
      // A tick: offline marking, then the three tick events computed from the projection (as TICK_LUA does).
      for (const inst of instancesOf(server)) {
        if (inst.status !== 'offline' && ts - inst.last_seen > 5000)
          push('instance.offline', { instanceId: inst.id, last_seen: inst.last_seen, ttl_ms: 5000 });
      }
      const stats = statisticsOf(server);
      loop += 1;
      push('status_update', {
        monitoring_active: true,
        loop_count: loop,
        active_instances: stats.active_instances,
        tick_at: ts,
        next_tick_at: ts + 500,
      });
      push('statistics_update', statisticsOf(server));
      push('instances_update', { instances: instancesOf(server) });
    }
  }
  return events;
}

function snapshotOf(state: ProjectionState, seq: number): Snapshot {
  return {
    topic: 't',
    epoch: 'e1',
    seq,
    status: state.status,
    statistics: statisticsOf(state),
    instances: instancesOf(state),
  };
}

describe('Projection', () => {
  it.each([1, 2, 3])('equals the server fold after every event (seed %i)', (seed) => {
    const events = log(seed, 400);
    const server = emptyState();
    const local = new Projection();
    local.reset(snapshotOf(server, 0));
    for (const event of events) {
      foldEvent(server, event);
      local.apply(event);
      expect({
        seq: local.seq,
        statistics: local.statistics,
        instances: [...local.instances.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
        status: local.status,
      }).toEqual({
        seq: event.seq,
        statistics: statisticsOf(server),
        instances: instancesOf(server),
        status: server.status,
      });
    }
  });

  it('continues from a snapshot taken mid-log', () => {
    const events = log(7, 300);
    const server = emptyState();
    for (const event of events.slice(0, 150)) foldEvent(server, event);
    const local = new Projection();
    local.reset(snapshotOf(server, 150));
    for (const event of events.slice(150)) {
      foldEvent(server, event);
      local.apply(event);
    }
    expect(local.statistics).toEqual(statisticsOf(server));
    expect(local.status).toEqual(server.status);
  });

  it('moves the tiles on each attempt, between ticks', () => {
    const local = new Projection();
    local.reset({
      topic: 't',
      epoch: 'e',
      seq: 0,
      status: null,
      statistics: { total_attempts: 0, successful: 0, failed: 0, success_rate: 0, active_instances: 0 },
      instances: [],
    });
    const changed = local.apply({
      topic: 't',
      seq: 1,
      epoch: 'e',
      type: 'attempt.recorded',
      ts: 5,
      data: { instanceId: 'a', outcome: 'failure' },
    });
    expect(changed.statistics).toBe(true);
    expect(local.statistics).toEqual({
      total_attempts: 1,
      successful: 0,
      failed: 1,
      success_rate: 0,
      active_instances: 1,
    });
  });

  it('drops an instance on instance.removed and redraws the table and the tiles', () => {
    const local = new Projection();
    local.reset({
      topic: 't',
      epoch: 'e',
      seq: 0,
      status: null,
      statistics: { total_attempts: 0, successful: 0, failed: 0, success_rate: 0, active_instances: 0 },
      instances: [],
    });
    local.apply({ topic: 't', seq: 1, epoch: 'e', type: 'instance.heartbeat', ts: 5, data: { instanceId: 'a' } });
    local.apply({
      topic: 't',
      seq: 2,
      epoch: 'e',
      type: 'instance.offline',
      ts: 6,
      data: { instanceId: 'a', last_seen: 5, ttl_ms: 1 },
    });
    const changed = local.apply({
      topic: 't',
      seq: 3,
      epoch: 'e',
      type: 'instance.removed',
      ts: 9,
      data: { instanceId: 'a', last_seen: 5 },
    });
    expect(changed).toEqual({ statistics: true, instances: true, status: false });
    expect(local.instances.size).toBe(0);
  });
});
