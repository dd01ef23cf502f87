// The edge's runner: steps in order, a step that answers ends the run, an error (passed or thrown) reaches `done` once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import { runEdge, type EdgeStep } from './http-edge.js';

const request = {} as IncomingMessage;
const response = {} as ServerResponse;

/** Runs `steps`; answers the names of the steps that ran and every call of `done`. */
function run(steps: [string, EdgeStep][]): { ran: string[]; done: unknown[][] } {
  const ran: string[] = [];
  const done: unknown[][] = [];
  runEdge(
    steps.map(([name, step]) => (req, res, next) => {
      ran.push(name);
      step(req, res, next);
    }),
    request,
    response,
    (...args) => done.push(args),
  );
  return { ran, done };
}

const pass: EdgeStep = (_req, _res, next) => next();

describe('runEdge', () => {
  it('runs every step in order, then done without an error', () => {
    expect(
      run([
        ['a', pass],
        ['b', pass],
        ['c', pass],
      ]),
    ).toEqual({ ran: ['a', 'b', 'c'], done: [[undefined]] });
  });

  it('stops at a step that answers itself (does not call next): done never runs', () => {
    expect(
      run([
        ['a', pass],
        ['answers', () => undefined],
        ['c', pass],
      ]),
    ).toEqual({ ran: ['a', 'answers'], done: [] });
  });

  it('hands an error passed to next, or thrown, to done, and runs no later step', () => {
    const failure = new Error('bad body');
    expect(
      run([
        ['a', (_q, _s, next) => next(failure)],
        ['b', pass],
      ]),
    ).toEqual({ ran: ['a'], done: [[failure]] });
    expect(
      run([
        [
          'throws',
          () => {
            throw failure;
          },
        ],
        ['b', pass],
      ]),
    ).toEqual({ ran: ['throws'], done: [[failure]] });
  });

  it('calls done once, even when a step calls next twice or throws after calling it', () => {
    const twice: EdgeStep = (_req, _res, next) => {
      next();
      next(new Error('again'));
    };
    expect(
      run([
        ['twice', twice],
        ['b', pass],
      ]),
    ).toEqual({ ran: ['twice', 'b'], done: [[undefined]] });
    const late: EdgeStep = (_req, _res, next) => {
      next();
      throw new Error('after next');
    };
    expect(run([['late', late]])).toEqual({ ran: ['late'], done: [[undefined]] });
  });

  it('calls done once when a step calls next asynchronously, as a body parser does', async () => {
    const later: EdgeStep = (_req, _res, next) => void Promise.resolve().then(() => next());
    const result = run([
      ['a', pass],
      ['later', later],
      ['c', pass],
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(result).toEqual({ ran: ['a', 'later', 'c'], done: [[undefined]] });
  });
});
