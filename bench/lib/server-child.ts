/**
 * The B2BUA under load runs in its own node process, so each run starts from a fresh heap and
 * its CPU time is its own. Protocol on stdout: "READY" once connected; on SIGTERM it stops and
 * prints "STATS {json}", then exits.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installWireTrace } from './wire-trace.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildStats {
  /** CPU used from READY to SIGTERM. */
  cpuUserUs: number;
  cpuSystemUs: number;
  [key: string]: number;
}

export interface Running {
  stop(): Promise<Record<string, number>>;
}

/**
 * Child side: runs `start`, reports READY, and on SIGTERM reports stats and exits. With
 * BENCH_WIRE_TRACE=1 in its environment it also times each INVITE inside the process
 * (bench/lib/wire-trace.ts) and adds the percentiles to its stats.
 */
export function serveChild(start: () => Promise<Running>): void {
  const tracer = process.env.BENCH_WIRE_TRACE === '1' ? installWireTrace() : null;
  start().then(
    (running) => {
      const cpu0 = process.cpuUsage();
      console.log('READY');
      process.once('SIGTERM', () => {
        const cpu = process.cpuUsage(cpu0);
        running.stop().then(
          (extra) => {
            const stats: ChildStats = { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, ...extra, ...tracer?.summary() };
            console.log(`STATS ${JSON.stringify(stats)}`);
            process.exit(0);
          },
          (err: Error) => {
            console.error(`stop failed: ${err.message}`);
            process.exit(1);
          },
        );
      });
    },
    (err: Error) => {
      console.error(`start failed: ${err.message}`);
      process.exit(1);
    },
  );
}

export interface ChildHandle {
  /** SIGTERM, then the STATS line (null if it never came). */
  stop(): Promise<ChildStats | null>;
  /** Clears the wire trace's samples (after a warm-up); nothing without BENCH_WIRE_TRACE=1. */
  resetTrace(): void;
  readonly pid: number;
}

/**
 * How the B2BUA children run. 'compiled' (the default) runs tsc's output under plain node, as
 * production does (`npm start` runs dist/); buildChildren() must have run first. 'tsx' runs the
 * TypeScript sources through tsx's loader, whose esbuild output wraps every named function and
 * closure in a `__name()` call (Object.defineProperty at each closure creation): it costs the
 * call path measurably more than the compiled code, so it only suits quick checks.
 */
export type ChildRuntime = 'compiled' | 'tsx';

export function childRuntime(): ChildRuntime {
  const value = process.env.BENCH_RUNTIME ?? 'compiled';
  if (value !== 'compiled' && value !== 'tsx') throw new Error(`BENCH_RUNTIME must be "compiled" or "tsx", not "${value}"`);
  return value;
}

/** What runs `what` (the B2BUA processes), for a benchmark's header. */
export const runtimeNote = (what: string): string =>
  `${what}: ${childRuntime() === 'compiled' ? 'tsc output under node (dist/, as npm start)' : 'TypeScript sources under tsx'} (BENCH_RUNTIME)`;

/**
 * Compiles the children and the sources they import into `root`/dist (its tsconfig.bench.json),
 * with the Redis functions' Lua next to them, as `npm run build` puts it.
 */
export function buildTree(root: string): void {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.bench.json'], { cwd: root, stdio: 'inherit' });
  const lua = join(root, 'src/sessions');
  for (const f of readdirSync(lua).filter((f) => f.endsWith('.lua'))) {
    if (existsSync(join(root, 'dist/src/sessions'))) copyFileSync(join(lua, f), join(root, 'dist/src/sessions', f));
  }
}

/** Compiles this tree's children (BENCH_RUNTIME=compiled). */
export function buildChildren(): void {
  if (childRuntime() === 'compiled') buildTree(repoRoot);
}

/**
 * Parent side: starts `script` (a .ts path relative to the repo root, or to `root`: another
 * revision's tree, always compiled) with one JSON argument, waits for READY.
 */
export async function spawnChild(script: string, config: unknown, nodeArgs: string[] = [], timeoutMs = 20_000, root?: string): Promise<ChildHandle> {
  const entry = childRuntime() === 'compiled' || root ? ['dist/' + script.replace(/\.ts$/, '.js')] : ['--import', 'tsx', script];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...entry, JSON.stringify(config)], {
    cwd: root ?? repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let stats: ChildStats | null = null;
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} not ready within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    lines.on('line', (line) => {
      if (line === 'READY') {
        clearTimeout(timer);
        resolve();
      } else if (line.startsWith('STATS ')) {
        stats = JSON.parse(line.slice(6)) as ChildStats;
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before READY: ${stderr}`));
    });
  });
  return {
    pid: child.pid ?? -1,
    resetTrace() {
      if (process.env.BENCH_WIRE_TRACE === '1') child.kill('SIGUSR2');
    },
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      await exited;
      clearTimeout(killer);
      return stats;
    },
  };
}
