/** The keep-alive of a media server's control connection (src/media/server-watch.ts), on fake timers. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ServerWatch } from '../../src/media/server-watch.js';

afterEach(() => {
  vi.useRealTimers();
});

function watched(ping: () => Promise<unknown>) {
  vi.useFakeTimers();
  const events: string[] = [];
  const w = new ServerWatch(ping, { pingMs: 1000, pingTimeoutMs: 500, deadAfterMs: 5000 }, {
    down: (why) => events.push(`down: ${why}`),
    up: () => events.push('up'),
    dead: (ms) => events.push(`dead after ${ms}`),
  });
  w.start();
  return { w, events };
}

describe('ServerWatch', () => {
  it('a server that answers its pings stays in rotation, one ping a second', async () => {
    const ping = vi.fn(() => Promise.resolve('UP'));
    const { w, events } = watched(ping);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ping).toHaveBeenCalledTimes(10);
    expect(events).toEqual([]);
    expect(w.isHealthy).toBe(true);
    w.stop();
  });

  it('a hung server is out of rotation one interval plus the ping deadline in, with one ping outstanding; its late answer puts it back', async () => {
    let answer: (v: unknown) => void = () => undefined;
    const ping = vi.fn(() => new Promise((r) => (answer = r)));
    const { w, events } = watched(ping);
    await vi.advanceTimersByTimeAsync(1499);
    expect(w.isHealthy).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(w.isHealthy).toBe(false);
    expect(events).toEqual(['down: keep-alive missed its deadline']);
    await vi.advanceTimersByTimeAsync(2000);
    expect(ping).toHaveBeenCalledTimes(1);
    answer('UP');
    await vi.advanceTimersByTimeAsync(0);
    expect(w.isHealthy).toBe(true);
    expect(events).toEqual(['down: keep-alive missed its deadline', 'up']);
    w.stop();
  });

  it('a server that answers nothing for deadAfterMs is dead, once, and no longer pinged', async () => {
    const ping = vi.fn(() => new Promise(() => undefined));
    const { w, events } = watched(ping);
    await vi.advanceTimersByTimeAsync(4999);
    expect(events).toEqual(['down: keep-alive missed its deadline']);
    await vi.advanceTimersByTimeAsync(1);
    expect(events).toEqual(['down: keep-alive missed its deadline', 'dead after 5000']);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(events).toHaveLength(2);
    expect(ping).toHaveBeenCalledTimes(1);
    expect(w.isHealthy).toBe(false);
  });

  it('a command that missed its deadline takes the server out at once; any answer puts it back and keeps it alive', async () => {
    const ping = vi.fn(() => new Promise(() => undefined));
    const { w, events } = watched(ping);
    w.missed('create channel');
    expect(w.isHealthy).toBe(false);
    expect(events).toEqual(['down: create channel missed its deadline']);
    // Commands keep answering while the pings hang: alive, never dead.
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      w.answered();
    }
    expect(events.filter((e) => e.startsWith('dead'))).toEqual([]);
    expect(events[1]).toBe('up');
    w.stop();
  });

  it('a ping that fails (the connection is closing) counts as a miss', async () => {
    const ping = vi.fn(() => Promise.reject(new Error('socket closed')));
    const { w, events } = watched(ping);
    await vi.advanceTimersByTimeAsync(1000);
    expect(events).toEqual(['down: keep-alive (failed) missed its deadline']);
    w.stop();
  });
});
