/** The CLI against a real redis-server: what it prints and its exit codes. */
import { createClient, ErrorReply, SocketClosedUnexpectedlyError } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.js';
import { exitFor } from '../../src/cli/exit.js';
import { DeadlineError } from '../../src/sessions/redis.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let env: Record<string, string>;
const PREFIX = 'mb:'; // config/default.json's redis.keyPrefix

/** Writes keys with a plain client, as a backend would (or as a bug in one would). */
async function write(fn: (c: ReturnType<typeof createClient>) => Promise<unknown>): Promise<void> {
  const c = createClient({ url: server.url });
  await c.connect();
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['--json', ...argv], env, { out: (l) => out.push(l), err: (l) => err.push(l) });
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

  it('session create --unknown-caller: kept and shown; a second one on the same V exits 5 naming the holder', async () => {
    const args = ['--virtual', '+912240005000', '--ttl', '600'];
    const created = await cli('session', 'create', '--id', 'order-u1', ...args, '--a', '+919812340011', '--b', '+919876540011', '--unknown-caller', 'connect-b');
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ id: 'order-u1', unknownCaller: 'connect-b' });
    expect(JSON.parse((await cli('session', 'show', 'order-u1')).out)).toMatchObject({ unknownCaller: 'connect-b' });
    const taken = await cli('session', 'create', '--id', 'order-u2', ...args, '--a', '+919812340012', '--b', '+919876540012', '--unknown-caller', 'announce:done.wav');
    expect(taken.code).toBe(5);
    expect(taken.err).toContain('open session order-u1');
    const bad = await cli('session', 'create', '--id', 'order-u3', ...args, '--a', '+919812340013', '--b', '+919876540013', '--unknown-caller', 'connect');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^unknownCaller: /);
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

  it('exits 3 when Redis cannot be reached, without printing the URL\'s password', async () => {
    const saved = env;
    env = { ...env, MB_REDIS_URL: 'redis://:s3cr3t-pw@127.0.0.1:1' };
    const r = await cli('session', 'get', 'order-7');
    env = saved;
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^redis unavailable: cannot reach redis at redis:\/\/\*\*\*@127\.0\.0\.1:1/);
    expect(r.err).not.toContain('s3cr3t-pw');
  });

  it('exits 4 naming the key and the problem for a malformed stored session', async () => {
    await write((c) => c.hSet(`${PREFIX}session:order-bad`, {
      v: '+912240001000', a: '+919812341234', b: '+919876549876', status: 'bogus', expires_at: String(Date.now() + 60_000),
    }));
    const r = await cli('session', 'get', 'order-bad');
    expect(r.code).toBe(4);
    expect(r.err).toBe(`malformed stored data at ${PREFIX}session:order-bad: field status is neither "open" nor "closed"`);
  });

  it('exits 5 on a conflicting open session', async () => {
    const args = ['--virtual', '+912240001000', '--a', '+919812340005', '--ttl', '600'];
    expect((await cli('session', 'create', '--id', 'order-c1', ...args, '--b', '+919876540005')).code).toBe(0);
    const r = await cli('session', 'create', '--id', 'order-c2', ...args, '--b', '+919876540006');
    expect(r.code).toBe(5);
    expect(r.err).toContain('session order-c1');
  });

  it('exits 70 with the error for an unexpected Redis error reply, not "redis unavailable"', async () => {
    // A session key that is not a hash: HGETALL answers WRONGTYPE; Redis is up, so this is no outage.
    await write((c) => c.set(`${PREFIX}session:order-str`, 'oops'));
    const r = await cli('session', 'get', 'order-str');
    expect(r.code).toBe(70);
    expect(r.err).toMatch(/^internal error: .*WRONGTYPE/);
    expect(r.err).not.toContain('redis unavailable');
  });

  it('documents the exit codes in --help', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    for (const line of ['0   ok', '1   not found', '2   bad input', '3   Redis unavailable', '4   malformed stored data', '5   conflict', '6   pool exhausted', '70  internal error']) {
      expect(r.out).toContain(line);
    }
  });
});

describe('CLI exit codes for what a command throws', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
  it.each([
    ['a deadline', new DeadlineError(500), 3],
    ['a closed socket', new SocketClosedUnexpectedlyError(), 3],
    ['a refused connection', refused, 3],
    ['Redis still loading its data', new ErrorReply('LOADING Redis is loading the dataset in memory'), 3],
    ['another error reply', new ErrorReply('ERR unknown command'), 70],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')"), 70],
    ['a thrown non-Error', 'boom', 70],
  ])('maps %s to %i', (_what, err, code) => {
    const r = exitFor(err);
    expect(r.code).toBe(code);
    expect(r.message).toMatch(code === 3 ? /^redis unavailable: / : /^internal error: /);
  });
});
