// The projection fold: how events make the state a dashboard shows. The Lua fold of libs/event-store must match it.
import type { ActiveAlert, RuleState } from './alerts.js';
import type { EventType, InstanceState, InstancesData, PulseEvent, Snapshot, Statistics } from './events.js';

/** The folded state of a topic: what a snapshot shows, without its position. */
export interface ProjectionState {
  counters: { total_attempts: number; successful: number; failed: number };
  instances: Map<string, InstanceState>;
  status: Snapshot['status'];
  /** The topic's rules by id (not in a snapshot: `GET …/rules` lists them). */
  rules: Map<string, RuleState>;
  /** Firing alerts by alertId. */
  alerts: Map<string, ActiveAlert>;
}

export function emptyState(): ProjectionState {
  return {
    counters: { total_attempts: 0, successful: 0, failed: 0 },
    instances: new Map(),
    status: null,
    rules: new Map(),
    alerts: new Map(),
  };
}

/** The snapshot of a topic with no events: any valid topic is a log, possibly empty. */
export function emptySnapshot(topic: string): Snapshot {
  const state = emptyState();
  return { topic, epoch: null, seq: 0, status: state.status, statistics: statisticsOf(state), instances: [] };
}

/** The state a snapshot shows, to fold later events onto. */
export function stateOfSnapshot(snapshot: Snapshot): ProjectionState {
  const { total_attempts, successful, failed } = snapshot.statistics;
  return {
    counters: { total_attempts, successful, failed },
    instances: new Map(snapshot.instances.map((instance) => [instance.id, instance])),
    status: snapshot.status,
    rules: new Map(),
    alerts: new Map((snapshot.alerts ?? []).map((alert) => [alert.alertId, alert])),
  };
}

function instance(state: ProjectionState, id: string): InstanceState {
  return (
    state.instances.get(id) ?? {
      id,
      status: 'online',
      last_seen: 0,
      next_action_at: null,
      attempts: 0,
      successes: 0,
      failures: 0,
    }
  );
}

/** What folding reads of an event: its type, data and time (per type, so that `type` still discriminates `data`). */
export type FoldableEvent = { [T in EventType]: Pick<PulseEvent<T>, 'type' | 'data' | 'ts'> }[EventType];

/** Folds one event into `state` (mutating it), exactly as the append script does. */
export function foldEvent(state: ProjectionState, event: FoldableEvent): void {
  switch (event.type) {
    case 'instance.heartbeat': {
      const { data } = event;
      const inst = { ...instance(state, data.instanceId) };
      inst.status = data.status ?? 'online';
      inst.last_seen = event.ts;
      inst.next_action_at = data.nextActionAt ?? null;
      if (data.meta !== undefined) inst.meta = data.meta;
      state.instances.set(inst.id, inst);
      return;
    }
    case 'attempt.recorded': {
      const { data } = event;
      const inst = { ...instance(state, data.instanceId) };
      const success = data.outcome === 'success';
      inst.attempts += 1;
      inst.successes += success ? 1 : 0;
      inst.failures += success ? 0 : 1;
      inst.last_seen = event.ts;
      if (inst.status === 'offline') inst.status = 'online';
      state.instances.set(inst.id, inst);
      state.counters.total_attempts += 1;
      if (success) state.counters.successful += 1;
      else state.counters.failed += 1;
      return;
    }
    case 'instance.offline': {
      const inst = state.instances.get(event.data.instanceId);
      if (inst) state.instances.set(inst.id, { ...inst, status: 'offline' });
      return;
    }
    case 'instance.removed': {
      state.instances.delete(event.data.instanceId);
      return;
    }
    case 'status_update': {
      const { data } = event;
      state.status = {
        monitoring_active: true,
        loop_count: data.loop_count,
        tick_at: data.tick_at,
        next_tick_at: data.next_tick_at,
      };
      return;
    }
    case 'rule.set':
      state.rules.set(event.data.ruleId, { ...event.data, setAt: event.ts });
      return;
    case 'rule.removed':
      state.rules.delete(event.data.ruleId);
      return;
    case 'alert.firing':
      state.alerts.set(event.data.alertId, { ...event.data, firedAt: event.ts });
      return;
    case 'alert.resolved':
      state.alerts.delete(event.data.alertId);
      return;
    default:
      // statistics_update and instances_update restate (part of) the projection: nothing to fold.
      return;
  }
}

/** Statistics as a snapshot and a statistics_update show them. */
export function statisticsOf(state: ProjectionState): Statistics {
  const { total_attempts, successful, failed } = state.counters;
  let active = 0;
  for (const inst of state.instances.values()) if (inst.status !== 'offline') active += 1;
  return {
    total_attempts,
    successful,
    failed,
    success_rate: total_attempts > 0 ? Math.floor((successful * 10000) / total_attempts + 0.5) / 100 : 0,
    active_instances: active,
  };
}

/** A map's values in byte order of their keys (as JavaScript sorts ASCII ids, and the tick script does). */
function byKey<T>(map: Map<string, T>): T[] {
  return [...map.keys()].sort().map((key) => map.get(key)!);
}

/** Instances sorted by id, as a snapshot and an instances_update list them. */
export function instancesOf(state: ProjectionState): InstanceState[] {
  return byKey(state.instances);
}

/** Firing alerts sorted by alertId, as a snapshot lists them. */
export function alertsOf(state: ProjectionState): ActiveAlert[] {
  return byKey(state.alerts);
}

/** Rules sorted by ruleId, as `GET …/rules` lists them. */
export function rulesOf(state: ProjectionState): RuleState[] {
  return byKey(state.rules);
}

/**
 * Folds an instances_update into a table kept from instances_update events alone (a client that
 * does not fold the facts): a full one replaces the table, a partial one sets the instances it
 * lists and deletes the ones it removed. Start from a snapshot or a full update.
 */
export function foldInstancesUpdate(instances: Map<string, InstanceState>, data: InstancesData): void {
  if (data.full !== false) instances.clear();
  for (const id of data.removed ?? []) instances.delete(id);
  for (const inst of data.instances) instances.set(inst.id, inst);
}
