/**
 * Finding and freezing a server this suite started (support/freeswitch.ts does not hand out its
 * process): by its command line, which names the test's own folder, so another test bed's
 * server, or one the machine runs for itself, is never matched.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** Pids of processes whose program is called `program` and one of whose arguments lies under `dir`. */
export function pidsOf(program: string, dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // exited meanwhile, or not ours to read
    }
    if (argv.length === 0 || basename(argv[0]!) !== program) continue;
    if (argv.slice(1).some((a) => a.startsWith(dir))) pids.push(Number(entry));
  }
  return pids;
}

/** The one FreeSWITCH started for the test bed in `dir`. */
export function freeswitchPid(dir: string): number {
  const pids = pidsOf('freeswitch', dir);
  if (pids.length !== 1) throw new Error(`expected one FreeSWITCH process under ${dir}, found ${pids.length}`);
  return pids[0]!;
}

/** SIGSTOP: the process keeps its sockets open and stops answering. */
export function freeze(pid: number): void {
  process.kill(pid, 'SIGSTOP');
}

export function thaw(pid: number): void {
  process.kill(pid, 'SIGCONT');
}
