/** Deadlines on waits for other processes. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/**
 * Rejects when `work` has not settled within `ms`. Every wait on another process goes through
 * this (Redis, FreeSWITCH, drachtio). For Redis: node-redis's own `timeout` command option covers
 * only the time a command waits to be written; once written, a frozen server would keep it
 * pending forever. This bounds the whole round trip. One promise and one timer per call (it
 * sits on every INVITE's path); a failure of `work` after the deadline settles nothing and is
 * not an unhandled rejection.
 */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(ms)), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
