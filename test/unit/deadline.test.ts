import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineError, withDeadline } from '../../src/sessions/redis.js';

describe('withDeadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes the value through and leaves no timer behind', async () => {
    vi.useFakeTimers();
    await expect(withDeadline(Promise.resolve(42), 250)).resolves.toBe(42);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes a failure through and leaves no timer behind', async () => {
    vi.useFakeTimers();
    await expect(withDeadline(Promise.reject(new Error('WRONGTYPE')), 250)).rejects.toThrow('WRONGTYPE');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with DeadlineError when the work has not settled in time', async () => {
    vi.useFakeTimers();
    const pending = withDeadline(new Promise<never>(() => undefined), 250);
    const seen = pending.catch((err: unknown) => err);
    await vi.advanceTimersByTimeAsync(249);
    let settled = false;
    void pending.then(() => (settled = true), () => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await seen).toBeInstanceOf(DeadlineError);
  });

  it('does not turn a failure after the deadline into an unhandled rejection', async () => {
    vi.useFakeTimers();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let fail!: (err: Error) => void;
      const work = new Promise<never>((_, reject) => (fail = reject));
      const guarded = withDeadline(work, 100).catch((err: unknown) => err);
      await vi.advanceTimersByTimeAsync(100);
      expect(await guarded).toBeInstanceOf(DeadlineError);
      fail(new Error('late'));
      vi.useRealTimers();
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
