/**
 * The process entry (src/main.ts, run as the container runs it, here through tsx): a start-up
 * failure exits non-zero with one clear line; drachtio-server and Redis being away is not one
 * (the process stays up and keeps retrying in the background); a bad setting exits 2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitForTcp } from '../helpers/net.js';

interface Running {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Running[] = [];
const servers: Server[] = [];

afterEach(async () => {
  for (const r of running.splice(0)) {
    if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
    await r.exit;
  }
  for (const s of servers.splice(0)) await new Promise((res) => s.close(res));
});

/** main.ts with only the environment given (plus PATH), drachtio and Redis on ports nobody listens on. */
async function startMain(env: Record<string, string>): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'mb-main-'));
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      MB_DRACHTIO_HOST: '127.0.0.1',
      MB_DRACHTIO_PORT: String(await freePort()),
      MB_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      MB_API_HOST: '127.0.0.1',
      MB_CDR_SPOOL_FILE: join(dir, 'spool.jsonl'),
      MB_LOG_BUFFER_BYTES: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  const r = { proc, stdout: () => out, stderr: () => err, exit };
  running.push(r);
  return r;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))]);
}

async function listening(): Promise<{ port: number }> {
  const port = await freePort();
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(port, '127.0.0.1', res));
  servers.push(srv);
  return { port };
}

describe('process start-up (src/main.ts)', () => {
  it('exits 1 with a clear line when the API port is taken', async () => {
    const { port } = await listening();
    const r = await startMain({ MB_API_PORT: String(port) });
    const { code } = await within(r.exit, 30_000, 'the process exits');
    expect(code).toBe(1);
    expect(r.stderr()).toContain(`maskbridge: start-up failed: HTTP API cannot listen on 127.0.0.1:${port}`);
    expect(r.stderr()).toContain('EADDRINUSE');
    const fatal = r.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.level === 60);
    expect(fatal?.msg).toBe('start-up failed; exiting');
  }, 45_000);

  it('stays up, API listening, while drachtio-server and Redis are away (both retried)', async () => {
    const port = await freePort();
    const r = await startMain({ MB_API_PORT: String(port) });
    await within(waitForTcp('127.0.0.1', port, 20_000), 21_000, 'the API listens');
    await new Promise((res) => setTimeout(res, 2000));
    expect(r.proc.exitCode, r.stderr()).toBeNull();
    await waitForTcp('127.0.0.1', port, 1000);
    expect(r.stdout()).toContain('redis connection error');
    expect(r.stdout()).toContain('drachtio connection error; retrying');
    expect(r.stdout()).toContain('maskbridge started');
    // And it still stops cleanly, never having reached either.
    r.proc.kill('SIGTERM');
    expect(await within(r.exit, 15_000, 'the process exits after SIGTERM')).toEqual({ code: 0, signal: null });
  }, 45_000);

  it('exits 2 naming the setting when the configuration is invalid', async () => {
    const r = await startMain({ MB_API_PORT: 'not-a-port' });
    const { code } = await within(r.exit, 30_000, 'the process exits');
    expect(code).toBe(2);
    expect(r.stderr()).toMatch(/^maskbridge: invalid configuration: .*api\.port/m);
  }, 45_000);
});
