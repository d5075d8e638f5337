/** The CLI against a real redis-server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let env: Record<string, string>;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  server = await RedisServer.start();
  env = { MB_REDIS_URL: server.url, MB_NUMBERS_DEFAULT_REGION: 'IN', MASKBRIDGE_CONFIG: 'config/default.json' };
});
afterAll(() => server.stop());

describe('maskbridge CLI', () => {
  it('creates, shows and closes a session', async () => {
    const created = await cli('session', 'create', '--id', 'order-7', '--virtual', '+912240001000', '--a', '9812341234', '--b', '+919876549876', '--ttl', '600', '--no-record');
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ id: 'order-7', a: '+919812341234', record: false, status: 'open' });
    expect(JSON.parse((await cli('session', 'get', 'order-7')).out)).toMatchObject({ status: 'open' });
    expect((await cli('session', 'close', 'order-7')).code).toBe(0);
    expect(JSON.parse((await cli('session', 'get', 'order-7')).out)).toMatchObject({ status: 'closed' });
  });

  it('exits 1 for an unknown session', async () => {
    const r = await cli('session', 'get', 'nope');
    expect(r.code).toBe(1);
    expect(r.err).toContain('no session nope');
  });

  it('exits 2 naming the bad field', async () => {
    const r = await cli('session', 'create', '--id', 'x', '--virtual', 'abc', '--a', '9812341234', '--b', '9876549876');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^virtual: "abc"/);
  });

  it('exits 2 on a missing option and on a bad config value, naming it', async () => {
    expect((await cli('session', 'create', '--id', 'x')).code).toBe(2);
    const saved = env;
    env = { ...env, MB_REDIS_COMMAND_TIMEOUT_MS: 'soon' };
    const r = await cli('check-config');
    env = saved;
    expect(r.code).toBe(2);
    expect(r.err).toContain('redis.commandTimeoutMs');
  });

  it('exits 3 when Redis cannot be reached', async () => {
    const saved = env;
    env = { ...env, MB_REDIS_URL: 'redis://127.0.0.1:1' };
    const r = await cli('session', 'get', 'order-7');
    env = saved;
    expect(r.code).toBe(3);
  });
});
