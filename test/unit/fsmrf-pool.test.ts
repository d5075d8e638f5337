/**
 * src/media/fsmrf.ts over a fake of drachtio-fsmrf (its connect(), MediaServer and Endpoint
 * events as lib/mediaserver.js and lib/endpoint.js emit them): a channel creation under way is
 * failed at once when its server's control connection closes; a server that answers nothing
 * for DEAD_AFTER_MS has its channels ended and is reconnected; health and pick follow; the
 * keep-alive runs on the configured timings (media.keepAliveMs, keepAliveTimeoutMs, deadAfterMs).
 */
import { EventEmitter } from 'node:events';
import type Mrf from 'drachtio-fsmrf';
import type Srf from 'drachtio-srf';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BRIDGE_UP_MAX_MS, DEAD_AFTER_MS, FsMediaPool, PING_MS, PING_TIMEOUT_MS, type FsPoolTimings } from '../../src/media/fsmrf.js';
import { MediaError } from '../../src/media/port.js';

class FakeEndpoint extends EventEmitter {
  readonly local = { sdp: 'v=0\r\n', mediaIp: '127.0.0.50', mediaPort: '20000' };
  readonly remote = { sdp: '' };
  byes = 0;
  connected = true;
  readonly dialog = Object.assign(new EventEmitter(), { destroy: async () => void this.byes++, local: { sdp: 'v=0\r\no=FreeSWITCH 1 2 IN IP4 127.0.0.50\r\n', contact: '<sip:127.0.0.1:5060>' } });
  /** The channel's outbound event socket: events subscribed, and emitted as drachtio-modesl names them. */
  readonly conn = Object.assign(new EventEmitter(), { subscribed: [] as string[], subscribe(events: string) { this.subscribed.push(events); } });
  constructor(readonly uuid: string) {
    super();
  }
  async bridge(): Promise<void> {}
  async destroy(): Promise<void> {
    this.emit('destroy', { reason: 'NORMAL_CLEARING' });
  }
}

class FakeMediaServer extends EventEmitter {
  conn = null;
  maxSessions = 0;
  currentSessions = 0;
  cpuIdle = 100;
  disconnected = 0;
  /** api('status') answers while true. */
  answering = true;
  /** api() calls: the keep-alives. */
  pings = 0;
  readonly pendingCreates: Array<{ resolve: (ep: FakeEndpoint) => void; reject: (err: Error) => void }> = [];
  async api(): Promise<string> {
    this.pings++;
    if (!this.answering) return new Promise<string>(() => undefined);
    return 'UP 0 years';
  }
  createEndpoint(): Promise<FakeEndpoint> {
    return new Promise((resolve, reject) => this.pendingCreates.push({ resolve, reject }));
  }
  disconnect(): void {
    this.disconnected++;
  }
}

function pool(servers = 2, commandTimeoutMs = 5000, keepAlive: Partial<Omit<FsPoolTimings, 'commandTimeoutMs'>> = {}) {
  const connected: FakeMediaServer[] = [];
  const mrf = {
    connect: vi.fn(async () => {
      const ms = new FakeMediaServer();
      connected.push(ms);
      return ms as unknown as Mrf.MediaServer;
    }),
  };
  const addresses = Array.from({ length: servers }, (_, i) => ({ host: '127.0.0.1', port: 8021 + i, secret: 's' }));
  const p = new FsMediaPool({} as Srf, addresses, { address: '127.0.0.1', port: 0, advertise: '' }, pino({ level: 'silent' }), {
    commandTimeoutMs, keepAliveMs: PING_MS, keepAliveTimeoutMs: PING_TIMEOUT_MS, deadAfterMs: DEAD_AFTER_MS, ...keepAlive,
  }, mrf);
  return { p, mrf, connected };
}

const settle = () => new Promise((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
});

describe('FsMediaPool', () => {
  it('a channel creation under way fails at once when its server\'s control connection closes; the server leaves the rotation', async () => {
    const { p, connected } = pool();
    p.start();
    await settle();
    expect(p.health().map((h) => h.healthy)).toEqual([true, true]);
    const server = p.pick()!;
    const creating = server.createEndpoint('v=0\r\n');
    const outcome = creating.then(() => 'created', (err: Error) => err);
    await settle();
    const t0 = Date.now();
    connected[0]!.emit('end'); // kill -9: the socket closes
    const err = await outcome;
    expect(err).toBeInstanceOf(MediaError);
    expect((err as Error).message).toMatch(/went away/);
    expect(Date.now() - t0).toBeLessThan(100); // not media.commandTimeoutMs later
    expect(p.health()).toEqual([
      { server: '127.0.0.1:8021', healthy: false, active: 0 },
      { server: '127.0.0.1:8022', healthy: true, active: 0 },
    ]);
    expect(p.pick()?.name).toBe('127.0.0.1:8022');
    // A channel that still arrives from the dead server is hung up, nobody's.
    const late = new FakeEndpoint('late');
    let hungUp = false;
    late.destroy = async () => void (hungUp = true);
    connected[0]!.pendingCreates[0]!.resolve(late);
    await settle();
    expect(hungUp).toBe(true);
    p.stop();
  });

  it('a channel released while its server dies (no BYE from FreeSWITCH) has its SIP dialog ended once the hangup\'s deadline passes', async () => {
    const { p, connected } = pool(1, 50);
    p.start();
    await settle();
    const creating = p.pick()!.createEndpoint();
    await settle();
    const fep = new FakeEndpoint('dying');
    fep.destroy = () => new Promise<void>(() => undefined); // fsmrf waits for a BYE that never comes
    connected[0]!.pendingCreates[0]!.resolve(fep);
    const ep = await creating;
    await ep.release();
    await settle();
    expect(fep.byes).toBe(1);
    p.stop();
  });

  it('a late channel whose event socket already closed gets its SIP dialog ended (fsmrf\'s destroy does nothing then)', async () => {
    const { p, connected } = pool();
    p.start();
    await settle();
    const outcome = p.pick()!.createEndpoint('v=0\r\n').catch(() => 'failed');
    await settle();
    connected[0]!.emit('end');
    expect(await outcome).toBe('failed');
    const late = new FakeEndpoint('late-dead');
    late.connected = false;
    late.destroy = async () => undefined; // what fsmrf does without its event socket: nothing
    connected[0]!.pendingCreates[0]!.resolve(late);
    await settle();
    await settle();
    expect(late.byes).toBe(1);
    p.stop();
  });

  it('pick() skips the servers a call already tried', async () => {
    const { p } = pool();
    p.start();
    await settle();
    const first = p.pick()!;
    expect(p.pick(new Set([first]))?.name).not.toBe(first.name);
    expect(p.pick(new Set([first, p.pick(new Set([first]))!]))).toBeNull();
    p.stop();
  });

  it('a channel whose event socket closes ends its call once, and its SIP dialog gets a BYE', async () => {
    const { p, connected } = pool(1);
    p.start();
    await settle();
    const creating = p.pick()!.createEndpoint();
    await settle();
    const fep = new FakeEndpoint('u1');
    connected[0]!.pendingCreates[0]!.resolve(fep);
    const ep = await creating;
    const causes: string[] = [];
    ep.onEnded((c) => causes.push(c));
    fep.emit('destroy'); // esl::end on its outbound connection: no Hangup-Cause
    fep.emit('destroy');
    expect(causes).toEqual(['event socket closed']);
    await settle();
    expect(fep.byes).toBe(1);
    expect(p.health()[0]!.active).toBe(0);
    p.stop();
  });

  it(`a server that answers nothing for DEAD_AFTER_MS (${DEAD_AFTER_MS} ms) is out of rotation within ${PING_MS} ms + its ping deadline, then has its calls ended and is reconnected`, async () => {
    vi.useFakeTimers();
    const { p, mrf, connected } = pool(1, 1000);
    p.start();
    await vi.advanceTimersByTimeAsync(0);
    const creating = p.pick()!.createEndpoint();
    await vi.advanceTimersByTimeAsync(0);
    const fep = new FakeEndpoint('u2');
    connected[0]!.pendingCreates[0]!.resolve(fep);
    const ep = await creating;
    const causes: string[] = [];
    ep.onEnded((c) => causes.push(c));
    connected[0]!.answering = false; // SIGSTOP: the sockets stay open
    await vi.advanceTimersByTimeAsync(PING_MS + 1000);
    expect(p.health()[0]!.healthy).toBe(false);
    expect(p.pick()).toBeNull();
    expect(causes).toEqual([]); // out of rotation, but its call goes on for now
    await vi.advanceTimersByTimeAsync(DEAD_AFTER_MS - PING_MS - 1000 + PING_MS);
    expect(causes).toEqual(['media server not answering']);
    expect(fep.byes).toBe(1);
    expect(connected[0]!.disconnected).toBe(1);
    await vi.advanceTimersByTimeAsync(600); // reconnect backoff 0.5 s
    expect(mrf.connect).toHaveBeenCalledTimes(2);
    expect(p.health()[0]!.healthy).toBe(true);
    p.stop();
  });

  it('FreeSWITCH\'s own re-INVITE to a channel in a bridge under way is answered once the bridge is up (CHANNEL_BRIDGE), one outside a bridge at once', async () => {
    const { p, connected } = pool(1);
    p.start();
    await settle();
    const server = p.pick()!;
    const channel = async (id: string) => {
      const creating = server.createEndpoint();
      await settle();
      const fake = new FakeEndpoint(id);
      connected[0]!.pendingCreates.shift()!.resolve(fake);
      return { ep: await creating, fake };
    };
    const a = await channel('a');
    const b = await channel('b');
    expect(a.fake.conn.subscribed).toEqual(['CHANNEL_BRIDGE']);
    const response = () => {
      const sent: Array<{ status: number; body: string; contact: string | undefined }> = [];
      return { sent, send: (status: number, opts: { body: string; headers: Record<string, string> }) => void sent.push({ status, body: opts.body, contact: opts.headers.Contact }) };
    };
    const outside = response();
    b.fake.dialog.emit('modify', {}, outside);
    await settle();
    expect(outside.sent).toEqual([{ status: 200, body: b.fake.dialog.local.sdp, contact: '<sip:127.0.0.1:5060>' }]);

    await a.ep.bridge(b.ep);
    const during = response();
    b.fake.dialog.emit('modify', {}, during); // sent from inside uuid_bridge
    await new Promise((r) => setTimeout(r, 100));
    expect(during.sent).toEqual([]); // the bridge is not up: answering now could restart the channel
    a.fake.conn.emit('esl::event::CHANNEL_BRIDGE::a', {});
    await new Promise((r) => setTimeout(r, 60));
    expect(during.sent.map((r) => r.status)).toEqual([200]);

    // No CHANNEL_BRIDGE at all: answered all the same, BRIDGE_UP_MAX_MS after the bridge began.
    const t0 = Date.now();
    await a.ep.bridge(b.ep);
    const stuck = response();
    b.fake.dialog.emit('modify', {}, stuck);
    while (stuck.sent.length === 0 && Date.now() - t0 < BRIDGE_UP_MAX_MS + 500) await new Promise((r) => setTimeout(r, 20));
    expect(stuck.sent.map((r) => r.status)).toEqual([200]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(BRIDGE_UP_MAX_MS - 20);
    p.stop();
  });

  it('keeps alive on the configured timings: api status every media.keepAliveMs, out at its deadline, dead after media.deadAfterMs', async () => {
    vi.useFakeTimers();
    const { p, connected } = pool(1, 5000, { keepAliveMs: 200, keepAliveTimeoutMs: 300, deadAfterMs: 1500 });
    p.start();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(connected[0]!.pings).toBe(5); // not 1, as at the default 1 s
    const creating = p.pick()!.createEndpoint();
    await vi.advanceTimersByTimeAsync(0);
    const fep = new FakeEndpoint('u3');
    connected[0]!.pendingCreates[0]!.resolve(fep);
    const ep = await creating;
    const causes: string[] = [];
    ep.onEnded((c) => causes.push(c));
    // Last answer at 1000 ms; the ping at 1200 ms is never answered: out at 1500 ms (its 300 ms deadline, not 2 s).
    connected[0]!.answering = false;
    await vi.advanceTimersByTimeAsync(499);
    expect(p.health()[0]!.healthy).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(p.health()[0]!.healthy).toBe(false);
    expect(causes).toEqual([]);
    // Dead at the first tick 1500 ms or more after that last answer (2600 ms), not 10 s after it.
    await vi.advanceTimersByTimeAsync(2599 - 1500);
    expect(causes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(causes).toEqual(['media server not answering']);
    expect(connected[0]!.disconnected).toBe(1);
    p.stop();
  });
});
