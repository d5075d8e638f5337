/**
 * maskbridge instances in processes of their own (support/maskbridge-child.ts), for suites that
 * kill one with SIGKILL: started with startMaskbridge's options, ready once the child says so.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { startMaskbridge } from './maskbridge.js';

export interface Instance {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  /** Its own directory (spools, log). */
  dir: string;
}

type Options = Omit<Parameters<typeof startMaskbridge>[0], 'dir'>;

/** Starts `name` in `<dir>/<name>`; each process compiles the app with tsx first (tens of seconds on a busy 2-core box). */
export async function startInstance(dir: string, name: string, opts: Options, readyWithinMs = 120_000): Promise<Instance> {
  const own = join(dir, name);
  mkdirSync(own, { recursive: true });
  const proc = spawn(process.execPath, ['--import', 'tsx', resolve('test/e2e/support/maskbridge-child.ts'), JSON.stringify({ ...opts, dir: own })], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let out = '';
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      fail(new Error(`${name} not ready within ${readyWithinMs} ms`));
    }, readyWithinMs);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        ok();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      fail(new Error(`${name} exited before it was ready`));
    });
  });
  return { name, proc, exited, dir: own };
}

/** SIGKILL, as a crash: no shutdown step runs. Resolves with when it was sent, once the process is gone. */
export async function kill9(inst: Instance): Promise<number> {
  const at = Date.now();
  inst.proc.kill('SIGKILL');
  await inst.exited;
  return at;
}
