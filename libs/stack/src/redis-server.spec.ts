// RedisServer against a real redis-server: in a process group of its own when asked (out of a terminal's Ctrl-C), in ours otherwise.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { RedisServer } from './redis-server.js';

/** The process group of `pid` (field 5 of /proc/<pid>/stat, after the command in parentheses). */
function groupOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

const started: { server: RedisServer; dir: string }[] = [];
afterEach(async () => {
  for (const { server, dir } of started.splice(0)) {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function start(ownProcessGroup?: boolean): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-redis-spec-'));
  const server = await RedisServer.start({ dir, appendOnly: false, ownProcessGroup });
  started.push({ server, dir });
  return server;
}

describe('RedisServer', () => {
  it('runs in a process group of its own when asked, so that a Ctrl-C to ours does not reach it', async () => {
    const server = await start(true);
    expect(groupOf(server.child.pid!)).toBe(server.child.pid);
    expect(groupOf(server.child.pid!)).not.toBe(groupOf(process.pid));
  });

  it('runs in our process group by default, so that a Ctrl-C of a test run stops it too', async () => {
    const server = await start();
    expect(groupOf(server.child.pid!)).toBe(groupOf(process.pid));
  });
});
