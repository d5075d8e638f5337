/**
 * Lowers the CPU priority (nice) of the calling thread only, on Linux: setpriority() given a
 * thread id (from /proc/thread-self) changes that thread and no other. A worker thread that does
 * background work (webhook delivery) then yields the CPU to the thread that handles calls when
 * the host is short of it. Returns the thread id changed, or null where this is not possible (not
 * Linux, the main thread, no permission): the thread then keeps the process's priority.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export function lowerThreadPriority(nice: number): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0 || tid === process.pid) return null;
    setPriority(tid, nice);
    return tid;
  } catch {
    return null;
  }
}
