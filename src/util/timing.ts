/** Timing of round trips to other processes, for metrics (src/metrics/metrics.ts). */

/** Told how one Redis round trip went: what it was, how long it took, whether it failed. */
export type RedisObserver = (command: string, seconds: number, failed: boolean) => void;

/** Passes `work` through, telling `observe` its duration and outcome. O(1): one clock read at each end. */
export function timed<T>(observe: RedisObserver | undefined, command: string, work: Promise<T>): Promise<T> {
  if (!observe) return work;
  const t0 = performance.now();
  return work.then(
    (value) => {
      observe(command, (performance.now() - t0) / 1000, false);
      return value;
    },
    (err: unknown) => {
      observe(command, (performance.now() - t0) / 1000, true);
      throw err;
    },
  );
}
