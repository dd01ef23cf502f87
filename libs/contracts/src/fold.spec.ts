// foldInstancesUpdate: a table kept from instances_update alone equals the projection whether updates are whole or partial.
import { describe, expect, it } from '@jest/globals';
import type { InstanceState } from './events.js';
import { foldInstancesUpdate } from './fold.js';

const instance = (id: string, attempts = 0): InstanceState => ({
  id,
  status: 'online',
  last_seen: 1,
  next_action_at: null,
  attempts,
  successes: attempts,
  failures: 0,
});

describe('foldInstancesUpdate', () => {
  it('replaces the table with a full update, sets and removes with a partial one', () => {
    const table = new Map<string, InstanceState>([['gone', instance('gone')]]);
    foldInstancesUpdate(table, { instances: [instance('a'), instance('b')], full: true });
    expect([...table.keys()]).toEqual(['a', 'b']);
    foldInstancesUpdate(table, { instances: [instance('b', 3), instance('c')], full: false, removed: ['a'] });
    expect([...table.values()]).toEqual([instance('b', 3), instance('c')]);
    // An update written before `full` existed was always the whole table.
    foldInstancesUpdate(table, { instances: [instance('z')] });
    expect([...table.keys()]).toEqual(['z']);
  });
});
