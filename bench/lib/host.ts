/**
 * What the host says about a load run (Linux /proc): UDP socket queues and drops per port,
 * the netns-wide UDP error counters, and how busy the CPUs were.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export interface UdpSocketSample {
  rxQueue: number;
  drops: number;
}

/** Per local UDP port (IPv4 and IPv6 tables): bytes waiting in the receive queue, datagrams dropped. */
export function udpSockets(): Map<number, UdpSocketSample> {
  const out = new Map<number, UdpSocketSample>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of read(table).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const port = parseInt((f[1] ?? '').split(':')[1] ?? '', 16);
      const rxQueue = parseInt((f[4] ?? '').split(':')[1] ?? '', 16);
      const drops = Number(f[f.length - 1]);
      const prev = out.get(port);
      out.set(port, { rxQueue: Math.max(rxQueue, prev?.rxQueue ?? 0), drops: drops + (prev?.drops ?? 0) });
    }
  }
  return out;
}

let ticksPerSecond = 0;

/** CPU time (user + system, µs) a process (or, with `task`, one of its threads) has used; NaN when it is gone. */
export function processCpuUs(pid: number | 'self', task?: number): number {
  if (!ticksPerSecond) ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  const stat = read(`/proc/${pid}${task === undefined ? '' : `/task/${task}`}/stat`);
  // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  return stat ? (ticks / ticksPerSecond) * 1e6 : Number.NaN;
}

/** CPU µs so far of every process on the host, by pid. */
export function allProcessesCpuUs(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const us = /^\d+$/.test(entry) ? processCpuUs(Number(entry)) : Number.NaN;
    if (Number.isFinite(us)) out.set(Number(entry), us);
  }
  return out;
}

/** The pid of the first process whose command line contains `needle`, or null. */
export function findPid(needle: string): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (read(`/proc/${entry}/cmdline`).split('\0').join(' ').includes(needle)) return Number(entry);
  }
  return null;
}

/** Pins every thread of `pid` to one CPU (taskset -a -p -c); false when it could not. */
export function pinToCpu(pid: number | null, cpu: number): boolean {
  if (pid === null) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { encoding: 'utf8' }).status === 0;
}

export interface RunWatch {
  /** Peak receive queue and drop count per named UDP port; CPU µs used per named pid while watched. */
  stop(): { udp: Record<string, UdpSocketSample>; cpuUs: Record<string, number> };
}

/**
 * Samples every `everyMs` until stopped: UDP queues/drops of the named ports and CPU time of the
 * named processes (the last sample before a process exits counts, so exits lose < everyMs of CPU).
 */
export function watchRun(ports: Record<string, number>, pids: Record<string, number | null>, everyMs = 200): RunWatch {
  const peak: Record<string, UdpSocketSample> = {};
  for (const name of Object.keys(ports)) peak[name] = { rxQueue: 0, drops: 0 };
  const first: Record<string, number> = {};
  const last: Record<string, number> = {};
  const sample = () => {
    const now = udpSockets();
    for (const [name, port] of Object.entries(ports)) {
      const s = now.get(port);
      const p = peak[name] as UdpSocketSample;
      if (s) {
        p.rxQueue = Math.max(p.rxQueue, s.rxQueue);
        p.drops = Math.max(p.drops, s.drops);
      }
    }
    for (const [name, pid] of Object.entries(pids)) {
      const cpu = pid === null ? Number.NaN : processCpuUs(pid);
      if (Number.isNaN(cpu)) continue;
      first[name] ??= cpu;
      last[name] = cpu;
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const cpuUs: Record<string, number> = {};
      for (const name of Object.keys(pids)) cpuUs[name] = (last[name] ?? Number.NaN) - (first[name] ?? Number.NaN);
      return { udp: peak, cpuUs };
    },
  };
}

/** Receive buffer size (bytes) of the UDP socket on `port`, as `ss -m` reports it (rb). */
export function udpReceiveBuffer(port: number): number | null {
  const r = spawnSync('ss', ['-u', '-a', '-n', '-m', `sport = :${port}`], { encoding: 'utf8' });
  const m = /rb(\d+)/.exec(r.stdout ?? '');
  return m ? Number(m[1]) : null;
}

/** The "Udp:" counters of /proc/net/snmp (InErrors, RcvbufErrors, SndbufErrors, ...). */
export function udpCounters(): Record<string, number> {
  const lines = read('/proc/net/snmp').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = (lines[0] ?? '').split(/\s+/).slice(1);
  const values = (lines[1] ?? '').split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? 0]));
}

export function counterDelta(before: Record<string, number>, after: Record<string, number>, names: string[]): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, (after[n] ?? 0) - (before[n] ?? 0)]));
}

/** Aggregate CPU jiffies from /proc/stat: [busy, total, steal (the hypervisor ran something else while this VM wanted a CPU)]. */
export function cpuTimes(): [number, number, number] {
  // "cpu" line: user nice system idle iowait irq softirq steal ...
  const f = (read('/proc/stat').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return [total - idle, total, f[7] ?? Number.NaN];
}

/** Share of all CPUs busy between two cpuTimes() samples, 0..1. */
export function busyShare(before: number[], after: number[]): number {
  const total = (after[1] ?? 0) - (before[1] ?? 0);
  return total > 0 ? ((after[0] ?? 0) - (before[0] ?? 0)) / total : Number.NaN;
}

export function sysctl(path: string): string {
  return read(path).trim() || 'n/a';
}
