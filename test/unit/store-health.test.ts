import { ErrorReply } from 'redis';
import { describe, expect, it } from 'vitest';
import { StoreHealth } from '../../src/sessions/health.js';
import { DeadlineError } from '../../src/util/deadline.js';

describe('store health follows what Redis answered', () => {
  it('one missed deadline marks the store failing; the next answer clears it', async () => {
    const h = new StoreHealth();
    expect(h.healthy).toBe(true);
    await h.track(Promise.reject(new DeadlineError(250))).catch(() => undefined);
    expect(h.healthy).toBe(false);
    expect(h.lastFailure).toContain('250 ms');
    await h.track(Promise.resolve('PONG'));
    expect(h.healthy).toBe(true);
  });

  it('an error reply (WRONGTYPE) is an answer: Redis is up', async () => {
    const h = new StoreHealth();
    await h.track(Promise.reject(new DeadlineError(1))).catch(() => undefined);
    await h.track(Promise.reject(new ErrorReply('WRONGTYPE Operation against a key holding the wrong kind of value'))).catch(() => undefined);
    expect(h.healthy).toBe(true);
  });

  it('says how long it has been since any command finished, for the idle probe', async () => {
    let now = 1000;
    const h = new StoreHealth(() => now);
    await h.track(Promise.resolve(1));
    now += 700;
    expect(h.idleMs()).toBe(700);
  });
});
