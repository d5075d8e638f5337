/** Shared by the benchmarks: percentiles, the machine description and markdown tables. */
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { sysctl } from './host.js';

/** Nearest-rank percentile of an ascending array (p in 0..100). NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

/** Load runs pooled: calls attempted, failed (uac + uas), INVITE->18x and INVITE->200 (ms). */
export function pooled(runs: Array<{ attempted: number; failedUac: number; failedUas: number; toRinging: number[]; toAnswer: number[] }>) {
  return {
    calls: runs.reduce((n, r) => n + r.attempted, 0),
    failed: runs.reduce((n, r) => n + r.failedUac + r.failedUas, 0),
    ringing: summarize(runs.flatMap((r) => r.toRinging)),
    answer: summarize(runs.flatMap((r) => r.toAnswer)),
  };
}

export function median(values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Fixed-point rendering that keeps NaN readable. */
export function num(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function int(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a';
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
}

/** The `keys` of a summary as cells, `digits` after the point. */
export function summaryCells(s: Summary, keys: ReadonlyArray<keyof Summary>, digits = 1): string[] {
  return keys.map((k) => num(s[k], digits));
}

/** a / b for each of `keys`, as cells. */
export function ratioCells(a: Summary, b: Summary, keys: ReadonlyArray<keyof Summary>): string[] {
  return keys.map((k) => ratio(a[k], b[k]));
}

/** "key value, key value", or "none". */
export const kv = (o: Record<string, number>): string => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

export function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export function machine(): string {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux: leave it unknown
  }
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${new Date().toISOString()} | nproc ${availableParallelism()} | ${cpu} | node ${process.version} | kernel ${release()} | loadavg ${load} | ${cpuIdle()}`;
}

/**
 * How an idle CPU waits: on a VM, a halted vCPU costs a host round trip to wake, which every
 * cross-process hop (drachtio, node, Redis) can pay. guest_halt_poll_ns is how long the haltpoll
 * driver polls before it halts (upstream default 200000; 0 = halt at once).
 */
function cpuIdle(): string {
  const driver = sysctl('/sys/devices/system/cpu/cpuidle/current_driver');
  const poll = sysctl('/sys/module/haltpoll/parameters/guest_halt_poll_ns');
  return `cpuidle ${driver}${poll === 'n/a' ? '' : `, guest_halt_poll_ns ${poll}`}`;
}

export function header(title: string): void {
  console.log(`\n## ${title}\n\n${machine()}\n`);
}

export function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
