/** Starts a throwaway redis-server on a free loopback port (tests and benchmarks). */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, waitForTcp } from './net.js';
import pino from 'pino';
import { createRedis, type Redis } from '../../src/sessions/redis.js';

export { freePort };

export class RedisServer {
  private proc: ChildProcess | null = null;
  constructor(readonly port: number, private readonly bin = process.env.REDIS_SERVER_BIN ?? 'redis-server') {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.proc = spawn(this.bin, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: 'ignore',
    });
    this.proc.on('error', () => undefined);
    await waitForTcp('127.0.0.1', this.port, 5000);
  }

  /** Freezes the server (SIGSTOP): connections stay open, answers stop. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGCONT');
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
    this.proc = null;
  }
}

/**
 * A throwaway redis-server and a connected maskbridge client for one test file: call in the
 * file's body; `ctx.redis` and `ctx.server` are set before its tests run, and both stop after.
 */
export function useRedis(hooks: { beforeAll: (fn: () => Promise<void>) => void; afterAll: (fn: () => Promise<void>) => void }, commandTimeoutMs = 1000) {
  const ctx = {} as { server: RedisServer; redis: Redis };
  hooks.beforeAll(async () => {
    ctx.server = await RedisServer.start();
    ctx.redis = createRedis({ url: ctx.server.url, commandTimeoutMs }, pino({ level: 'silent' }));
    await ctx.redis.connect();
  });
  hooks.afterAll(async () => {
    await ctx.redis?.close().catch(() => undefined);
    await ctx.server?.stop();
  });
  return ctx;
}
