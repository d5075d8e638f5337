/**
 * The B2BUA under load runs in its own node process, so each run starts from a fresh heap and
 * its CPU time is its own. Protocol on stdout: "READY" once connected; on SIGTERM it stops and
 * prints "STATS {json}", then exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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

/** Child side: runs `start`, reports READY, and on SIGTERM reports stats and exits. */
export function serveChild(start: () => Promise<Running>): void {
  start().then(
    (running) => {
      const cpu0 = process.cpuUsage();
      console.log('READY');
      process.once('SIGTERM', () => {
        const cpu = process.cpuUsage(cpu0);
        running.stop().then(
          (extra) => {
            const stats: ChildStats = { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, ...extra };
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
  readonly pid: number;
}

/** Parent side: starts `script` (relative to the repo root) under tsx with one JSON argument, waits for READY. */
export async function spawnChild(script: string, config: unknown, nodeArgs: string[] = [], timeoutMs = 20_000): Promise<ChildHandle> {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, JSON.stringify(config)], {
    cwd: repoRoot,
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
    async stop() {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
      await exited;
      clearTimeout(killer);
      return stats;
    },
  };
}
