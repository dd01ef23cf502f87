// Compacted listener tables: the emitter behaves as before (emit, add, remove, names, counts); a table not of the expected kind is left alone.
import { EventEmitter } from 'node:events';
import { expect, it } from '@jest/globals';
import { compactConnection, compactListeners } from './listener-table.js';

it('an emitter with a compacted table emits, adds, removes and names its listeners as before', () => {
  const emitter = new EventEmitter();
  const heard: string[] = [];
  const onA = (value: string) => heard.push(`a:${value}`);
  emitter.on('error', () => heard.push('error'));
  emitter.on('a', onA);
  emitter.on('b', (value: string) => heard.push(`b:${value}`));
  emitter.on('b', (value: string) => heard.push(`b2:${value}`));
  compactListeners(emitter);
  expect(Object.getPrototypeOf((emitter as unknown as { _events: object })._events)).not.toBeNull();
  expect(emitter.eventNames()).toEqual(['error', 'a', 'b']);
  expect(emitter.listenerCount('b')).toBe(2);
  // Nothing is inherited: an event nobody listens to has no listener, whatever its name.
  expect(emitter.listenerCount('toString')).toBe(0);
  expect(emitter.emit('constructor')).toBe(false);
  emitter.emit('a', 1);
  emitter.emit('b', 2);
  emitter.emit('error', new Error('handled'));
  emitter.off('a', onA);
  emitter.emit('a', 3);
  emitter.once('c', () => heard.push('c'));
  emitter.emit('c');
  emitter.emit('c');
  expect(heard).toEqual(['a:1', 'b:2', 'b2:2', 'error', 'c']);
  expect(emitter.eventNames()).toEqual(['error', 'b']);
  // Without a listener an error still throws, as Node's own table makes it.
  emitter.removeAllListeners('error');
  expect(() => emitter.emit('error', new Error('unhandled'))).toThrow('unhandled');
});

it('leaves alone what has no table of the kind it knows, and skips the parts of a connection that are missing', () => {
  const odd = { _events: new Map() };
  compactListeners(odd);
  expect(odd._events).toBeInstanceOf(Map);
  const plain = {};
  compactListeners(plain);
  expect(plain).toEqual({});
  const socket = new EventEmitter();
  socket.on('subscribe', () => undefined);
  expect(() => compactConnection(Object.assign(socket, { conn: { transport: null } }))).not.toThrow();
  expect(socket.listenerCount('subscribe')).toBe(1);
});
