/**
 * The built CLI (dist/src/cli/main.js, as operators run it) against a real redis-server: a
 * pool from creation to exhaustion, a session allocated from it, listed, extended and closed,
 * the contract library loaded, and the exit codes scripts branch on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingPaths } from '../../src/media/recording.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { RedisServer } from '../helpers/redis-server.js';

const BIN = 'dist/src/cli/main.js';
let server: RedisServer;

beforeAll(async () => {
  // The CLI as shipped: build it (tsc and the Lua library) when this tree has not been built.
  const build = spawnSync('npm', ['run', 'build', '--silent'], { encoding: 'utf8', timeout: 120_000 });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  server = await RedisServer.start();
}, 150_000);
afterAll(() => server.stop());

function cli(...argv: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...argv], {
    encoding: 'utf8', timeout: 20_000,
    env: { PATH: process.env.PATH, MB_REDIS_URL: server.url, MB_NUMBERS_DEFAULT_REGION: 'IN', MASKBRIDGE_CONFIG: 'config/default.json' },
  });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}
const json = (...argv: string[]) => {
  const r = cli('--json', ...argv);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as Record<string, unknown> & Array<Record<string, unknown>>;
};

describe('maskbridge CLI (built) against Redis', () => {
  it('is built', () => expect(existsSync(BIN)).toBe(true));

  it('prints its version, and loads the contract library idempotently', () => {
    expect(cli('--version').out).toMatch(/^\d+\.\d+\.\d+$/);
    expect(json('contract', 'load')).toMatchObject({ library: 'maskbridge', outcome: 'loaded' });
    expect(json('contract', 'load')).toMatchObject({ outcome: 'current' });
  });

  // About 30 CLI runs in a row (each a Node start): generous on a loaded 2-core machine.
  it('a pool from creation to exhaustion, and a session from allocation to close', { timeout: 90_000 }, () => {
    expect(json('pool', 'add', 'mumbai', '+912240001000', '02240001001', '--cool-off', '0')).toEqual({ pool: 'mumbai', added: 2 });
    const bad = cli('pool', 'add', 'mumbai', '+912240001002', '12');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/"12" is/);
    expect(json('pool', 'list')).toEqual([expect.objectContaining({ name: 'mumbai', active: 2, reserved: 0 })]);
    expect(cli('pool', 'list', 'mumbai').out).toMatch(/^NUMBER\s+STATE\n\+912240001000\s+active\n\+912240001001\s+active$/);

    const s = json('session', 'create', '--id', 'order-1', '--pool', 'mumbai', '--a', '+919812341234', '--b', '09876549876', '--ttl', '600');
    expect(s).toMatchObject({ id: 'order-1', pool: 'mumbai', status: 'open', b: '+919876549876' });
    expect(cli('session', 'show', 'order-1').out).toMatch(/^id\s+order-1$/m);
    expect(json('session', 'list', '--participant', '+919812341234')).toEqual([expect.objectContaining({ id: 'order-1' })]);
    const later = new Date(Date.now() + 7200_000).toISOString();
    expect(json('session', 'extend', 'order-1', '--expires', later)).toMatchObject({ expiresAt: later });

    expect(cli('session', 'create', '--id', 'order-1', '--pool', 'mumbai', '--a', '+919812341234', '--b', '+919876549877').code).toBe(5);
    json('session', 'create', '--id', 'order-2', '--pool', 'mumbai', '--a', '+919812341234', '--b', '+919876549877');
    const exhausted = cli('session', 'create', '--id', 'order-3', '--pool', 'mumbai', '--a', '+919812341234', '--b', '+919876549878');
    expect(exhausted.code).toBe(6);
    expect(exhausted.err).toMatch(/pool mumbai is exhausted/);

    json('pool', 'quarantine', 'mumbai', String(s.virtualNumber));
    expect(json('pool', 'list')).toEqual([expect.objectContaining({ active: 1, quarantined: 1 })]);
    expect(json('session', 'close', 'order-1')).toEqual({ id: 'order-1', status: 'closed' });
    expect(cli('session', 'close', 'nope').code).toBe(1);
    expect(cli('pool', 'drain', 'nowhere', '+912240001000').code).toBe(1);
    expect(json('session', 'list', '--participant', '+919812341234')).toEqual([expect.objectContaining({ id: 'order-2' })]);
    expect(json('session', 'list', '--status', 'closed').map((r) => r.id)).toEqual(['order-1']);
    expect(json('session', 'list', '--pool', 'mumbai', '--status', 'open').map((r) => r.id)).toEqual(['order-2']);
  });

  it('erases a participant and their sessions', () => {
    json('session', 'create', '--id', 'gdpr-1', '--virtual', '+912240009000', '--a', '+919811111111', '--b', '+919822222222');
    expect(json('participant', 'erase', '+919811111111')).toMatchObject({ number: '+919811111111', sessions: 'gdpr-1' });
    expect(cli('session', 'show', 'gdpr-1').code).toBe(1);
    expect(cli('participant', 'erase', 'nobody').code).toBe(2);
  });

  it('prints the newest CDRs and queries them by session', async () => {
    const c = createClient({ url: server.url });
    await c.connect();
    for (let i = 0; i < 5; i++) await c.xAdd('mb:cdr', '*', { id: `cdr-${i}`, session_id: i % 2 ? 'odd' : 'even' });
    await c.quit();
    expect(json('cdr', 'tail', '-n', '2').map((r) => r.id)).toEqual(['cdr-3', 'cdr-4']);
    expect(json('cdr', 'query', '--session', 'odd').map((r) => r.id)).toEqual(['cdr-1', 'cdr-3']);
  });

  it('gets a session\'s recordings, copying them out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-cli-rec-'));
    const file = recordingPaths(dir, new Date('2026-12-01T10:00:00Z'), 'order-rec', 'abc').final;
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'RIFF');
    const out = join(dir, 'out');
    const r = spawnSync(process.execPath, [BIN, '--json', 'recording', 'get', 'order-rec', '--out', out], {
      encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, MB_REDIS_URL: server.url, MB_RECORDING_DIR: dir, MASKBRIDGE_CONFIG: 'config/default.json' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ day: '2026-12-01', name: 'abc.wav', bytes: 4, path: join(out, '2026-12-01-abc.wav') }]);
    expect(readFileSync(join(out, '2026-12-01-abc.wav'), 'utf8')).toBe('RIFF');
  });

  it('lists live calls (none here) and says when a call to hang up is not live', () => {
    expect(json('calls', 'list')).toEqual([]);
    const r = cli('calls', 'hangup', 'a'.repeat(32));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no live call/);
  });
});
