// The projection fold: how events make the state a dashboard shows. The Lua fold of libs/event-store must match it.
import type { ActiveAlert, AlertFiringData, Rule, RuleState } from './alerts.js';
import type { AttemptData, HeartbeatData, InstanceState, PulseEvent, Snapshot, Statistics, StatusData } from './events.js';

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
  return { counters: { total_attempts: 0, successful: 0, failed: 0 }, instances: new Map(), status: null, rules: new Map(), alerts: new Map() };
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
  return state.instances.get(id) ?? { id, status: 'online', last_seen: 0, next_action_at: null, attempts: 0, successes: 0, failures: 0 };
}

/** Folds one event into `state` (mutating it), exactly as the append script does. */
export function foldEvent(state: ProjectionState, event: Pick<PulseEvent, 'type' | 'data' | 'ts'>): void {
  switch (event.type) {
    case 'instance.heartbeat': {
      const data = event.data as HeartbeatData;
      const inst = { ...instance(state, data.instanceId) };
      inst.status = data.status ?? 'online';
      inst.last_seen = event.ts;
      inst.next_action_at = data.nextActionAt ?? null;
      if (data.meta !== undefined) inst.meta = data.meta;
      state.instances.set(inst.id, inst);
      return;
    }
    case 'attempt.recorded': {
      const data = event.data as AttemptData;
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
      const inst = state.instances.get((event.data as { instanceId: string }).instanceId);
      if (inst) state.instances.set(inst.id, { ...inst, status: 'offline' });
      return;
    }
    case 'instance.removed': {
      state.instances.delete((event.data as { instanceId: string }).instanceId);
      return;
    }
    case 'status_update': {
      const data = event.data as StatusData;
      state.status = { monitoring_active: true, loop_count: data.loop_count, tick_at: data.tick_at, next_tick_at: data.next_tick_at };
      return;
    }
    case 'rule.set': {
      const rule = event.data as Rule;
      state.rules.set(rule.ruleId, { ...rule, setAt: event.ts });
      return;
    }
    case 'rule.removed':
      state.rules.delete((event.data as { ruleId: string }).ruleId);
      return;
    case 'alert.firing': {
      const data = event.data as AlertFiringData;
      state.alerts.set(data.alertId, { ...data, firedAt: event.ts });
      return;
    }
    case 'alert.resolved':
      state.alerts.delete((event.data as { alertId: string }).alertId);
      return;
    default:
      // statistics_update and instances_update restate the projection: nothing to fold.
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
