/**
 * A throwaway Redis Sentinel setup on free loopback ports: one primary, one replica (replicaof)
 * and three redis-sentinel processes, with short down-after and failover timeouts so a failover
 * takes a second or two (test/integration/sentinel.test.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { freePort, waitForTcp } from './net.js';

export const SENTINEL_NAME = 'mymaster';
const SENTINEL_BIN = process.env.REDIS_SENTINEL_BIN ?? 'redis-sentinel';
const SERVER_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';

/** Why the Sentinel tests cannot run here, or null when they can. */
export function sentinelUnavailable(): string | null {
  for (const bin of [SERVER_BIN, SENTINEL_BIN]) {
    const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
    if (r.error || r.status !== 0) return `${bin} is not installed (Debian packages redis-server and redis-sentinel; scripts/install-deps.sh)`;
  }
  return null;
}

/** One command to a node (a sentinel or a data node), on a connection of its own. */
export async function ask(port: number, args: string[]): Promise<unknown> {
  const c = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 1000, reconnectStrategy: false } });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.sendCommand(args);
  } finally {
    if (c.isOpen) c.destroy();
  }
}

export class SentinelSetup {
  private readonly procs: ChildProcess[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'mb-sentinel-'));
  primaryPort = 0;
  replicaPort = 0;
  readonly sentinelPorts: number[] = [];

  static async start(opts: { downAfterMs?: number; failoverTimeoutMs?: number } = {}): Promise<SentinelSetup> {
    const s = new SentinelSetup();
    try {
      await s.boot(opts.downAfterMs ?? 1000, opts.failoverTimeoutMs ?? 5000);
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  get sentinels(): string[] {
    return this.sentinelPorts.map((p) => `127.0.0.1:${p}`);
  }

  private readonly byPort = new Map<number, ChildProcess>();

  private run(bin: string, args: string[], port: number): void {
    const p = spawn(bin, args, { stdio: 'ignore' });
    p.on('error', () => undefined);
    this.procs.push(p);
    this.byPort.set(port, p);
  }

  /** Kills the node on `port` (SIGKILL): an unplanned failure, no goodbye on its connections. */
  async kill(port: number): Promise<void> {
    const p = this.byPort.get(port);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  private async boot(downAfterMs: number, failoverTimeoutMs: number): Promise<void> {
    this.primaryPort = await freePort();
    this.replicaPort = await freePort();
    // No 5 s wait for more replicas before a full sync (the demoted primary needs one to rejoin).
    const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--repl-diskless-sync-delay', '0'];
    this.run(SERVER_BIN, ['--port', String(this.primaryPort), ...common], this.primaryPort);
    this.run(SERVER_BIN, ['--port', String(this.replicaPort), ...common, '--replicaof', '127.0.0.1', String(this.primaryPort)], this.replicaPort);
    await waitForTcp('127.0.0.1', this.primaryPort, 5000);
    await waitForTcp('127.0.0.1', this.replicaPort, 5000);
    await this.until(async () => String(await ask(this.replicaPort, ['INFO', 'replication'])).includes('master_link_status:up'), 10_000, 'replica in sync');
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      this.sentinelPorts.push(port);
      const conf = join(this.dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file (what it learns): one writable file each.
      writeFileSync(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${this.dir}`,
        `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${this.primaryPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_NAME} ${downAfterMs}`,
        `sentinel failover-timeout ${SENTINEL_NAME} ${failoverTimeoutMs}`,
        `sentinel parallel-syncs ${SENTINEL_NAME} 1`, '',
      ].join('\n'));
      this.run(SENTINEL_BIN, [conf], port);
    }
    for (const port of this.sentinelPorts) await waitForTcp('127.0.0.1', port, 5000);
    // Every sentinel knows the replica and the two other sentinels before a failover is asked for.
    await this.until(async () => {
      for (const port of this.sentinelPorts) {
        const replicas = (await ask(port, ['SENTINEL', 'replicas', SENTINEL_NAME])) as unknown[];
        const others = (await ask(port, ['SENTINEL', 'sentinels', SENTINEL_NAME])) as unknown[];
        if (replicas.length < 1 || others.length < 2) return false;
      }
      return true;
    }, 15_000, 'sentinels discover the replica and each other');
  }

  /** The primary's port as the first sentinel names it. */
  async primary(): Promise<number> {
    const reply = (await ask(this.sentinelPorts[0] as number, ['SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME])) as string[];
    return Number(reply[1]);
  }

  private async until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`sentinel setup: ${what}: not within ${ms} ms`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => {
      if (p.exitCode !== null || p.signalCode !== null) return undefined;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      return exited;
    }));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
