/** Builds the call path over fakes of the project's own ports, as the composition root would. */
import type { LiveCallSink } from '../../src/calls/live-calls.js';
import type { CallDeps } from '../../src/calls/call-session.js';
import { Writable } from 'node:stream';
import pino from 'pino';
import { CallRegistry } from '../../src/calls/registry.js';
import { callDepsFromConfig, createInviteHandler } from '../../src/calls/handler.js';
import type { Cdr, CdrSink } from '../../src/cdr/cdr.js';
import { loadConfig } from '../../src/config/load.js';
import type { AppConfig } from '../../src/config/types.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { NO_OPTIONS, unknownCallerOf, type LookupResult, type SessionRecord } from '../../src/sessions/contract.js';
import { StoreUnavailableError } from '../../src/sessions/redis.js';
import { SessionConflictError, SessionExistsError, validateNewSession, type AdmitRequest, type AdmitVerdict, type NewSession, type RecheckResult, type SessionLookup } from '../../src/sessions/store.js';
import { hookMetrics } from '../../src/hooks/hook-metrics.js';
import { hooksFromConfig } from '../../src/hooks/hooks.js';
import type { MediaSettings } from '../../src/calls/call-session.js';
import { callIdHasher } from '../../src/calls/call-id.js';
import { CallEvents, type CallEventSink } from '../../src/calls/call-events.js';
import { FakeSipPort } from './fake-sip.js';

export const V = '+912240001000';
export const A = '+919812341234';
export const B = '+919876549876';
export const GW = '127.0.0.1:5070';
export const SDP_A = 'v=0\r\no=alice-9812341234 11 1 IN IP4 127.0.0.5\r\ns=Alice 919812341234\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n';

export class MemoryCdrSink implements CdrSink {
  readonly records: Cdr[] = [];
  write(cdr: Cdr): void {
    this.records.push(cdr);
  }
}

/** A SessionLookup over an in-memory map, with a switch to simulate Redis being down. */
export class FakeSessions implements SessionLookup {
  readonly sessions = new Map<string, SessionRecord>();
  /** `${V}:${pin}` -> the session and the participant the PIN speaks for. */
  readonly pins = new Map<string, { id: string; role: 'a' | 'b' }>();
  /** V -> session id: the unknown-caller slots ({prefix}unknown:{V}); add() takes V's for a session with unknownCaller other than reject. */
  readonly unknownSlots = new Map<string, string>();
  down = false;
  calls = 0;
  constructor(private readonly now: () => number = Date.now) {}

  add(s: Partial<SessionRecord> & { id: string }): SessionRecord {
    const rec: SessionRecord = {
      virtualNumber: V, a: A, b: B, status: 'open', expiresAt: this.now() + 3600_000,
      ...NO_OPTIONS, createdAt: this.now(), ...s,
    };
    this.sessions.set(rec.id, rec);
    if (unknownCallerOf(rec).kind !== 'reject') this.unknownSlots.set(rec.virtualNumber, rec.id);
    return rec;
  }

  /** SessionStore.create as mb_create does it: never replaces a session, refuses a participant with a live session on V. */
  async create(s: NewSession): Promise<SessionRecord> {
    if (this.down) throw new StoreUnavailableError(new Error('connection refused'));
    validateNewSession(s, this.now());
    if (this.sessions.has(s.id)) throw new SessionExistsError(s.id);
    for (const other of this.sessions.values()) {
      const live = other.status === 'open' && other.expiresAt > this.now();
      if (live && other.virtualNumber === s.virtualNumber && [other.a, other.b].some((n) => n === s.a || n === s.b)) throw new SessionConflictError(other.id);
    }
    const { virtualNumber, a, b, expiresAt, id } = s;
    return this.add({
      id, virtualNumber, a, b, expiresAt,
      ...(s.record !== undefined ? { record: s.record } : {}), ...(s.meta !== undefined ? { meta: s.meta } : {}), ...(s.label !== undefined ? { label: s.label } : {}),
      ...(s.direction !== undefined ? { direction: s.direction } : {}),
    });
  }

  async lookup(virtualNumber: string, caller: string): Promise<LookupResult> {
    this.calls++;
    if (this.down) throw new StoreUnavailableError(new Error('connection refused'));
    for (const s of this.sessions.values()) {
      if (s.virtualNumber !== virtualNumber || (s.a !== caller && s.b !== caller)) continue;
      if (s.status === 'closed') return { kind: 'closed', session: s, why: 'closed' };
      if (s.expiresAt <= this.now()) return { kind: 'closed', session: s, why: 'expired' };
      const callerRole = s.a === caller ? 'a' : 'b';
      return { kind: 'found', session: s, callerRole, peer: callerRole === 'a' ? s.b : s.a };
    }
    // A miss: V's dedicated session, as interpretLookup takes it (open, unexpired, on V, not reject).
    const d = this.sessions.get(this.unknownSlots.get(virtualNumber) ?? '');
    if (d && d.virtualNumber === virtualNumber && d.status === 'open' && d.expiresAt > this.now() && unknownCallerOf(d).kind !== 'reject') {
      return { kind: 'unknown', dedicated: d };
    }
    return { kind: 'unknown' };
  }

  /** Set to make the re-check at answer fail as if Redis were down. */
  recheckDown = false;
  rechecks = 0;

  async recheck(id: string): Promise<RecheckResult> {
    this.rechecks++;
    if (this.down || this.recheckDown) throw new StoreUnavailableError(new Error('connection refused'));
    const s = this.sessions.get(id);
    if (!s) return 'gone';
    if (s.status === 'closed') return 'closed';
    return s.expiresAt <= this.now() ? 'expired' : 'open';
  }

  /** Calls counted against the concurrent-call limits: call id -> [session id, V]. */
  readonly admitted = new Map<string, [string, string]>();
  admitDown = false;

  async admit(req: AdmitRequest): Promise<AdmitVerdict> {
    if (this.down || this.admitDown) throw new StoreUnavailableError(new Error('connection refused'));
    const held = [...this.admitted.values()];
    if (req.maxPerSession > 0 && held.filter(([s]) => s === req.sessionId).length >= req.maxPerSession) return 'session';
    if (req.maxPerNumber > 0 && held.filter(([, v]) => v === req.virtualNumber).length >= req.maxPerNumber) return 'number';
    this.admitted.set(req.callId, [req.sessionId, req.virtualNumber]);
    return 'ok';
  }

  async release(req: { callId: string }): Promise<void> {
    this.admitted.delete(req.callId);
  }

  /** Sliding-TTL refreshes asked for: [session id, ended at]. */
  touches: Array<[string, number]> = [];

  async touch(id: string, endedAt: number): Promise<void> {
    this.touches.push([id, endedAt]);
  }

  async lookupByPin(virtualNumber: string, pin: string): Promise<LookupResult> {
    this.calls++;
    if (this.down) throw new StoreUnavailableError(new Error('connection refused'));
    const ref = this.pins.get(`${virtualNumber}:${pin}`);
    const s = ref ? this.sessions.get(ref.id) : undefined;
    if (!ref || !s) return { kind: 'unknown' };
    if (s.status === 'closed' || s.expiresAt <= this.now()) return { kind: 'closed', session: s, why: s.status === 'closed' ? 'closed' : 'expired' };
    return { kind: 'found', session: s, callerRole: ref.role, peer: ref.role === 'a' ? s.b : s.a };
  }
}

/** An outbox that keeps what is published, in order. */
export class MemoryEventSink implements CallEventSink {
  readonly events: Array<Parameters<CallEventSink['publish']>[0]> = [];
  publish(e: Parameters<CallEventSink['publish']>[0]): void {
    this.events.push(e);
  }
  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

export interface Harness {
  config: AppConfig;
  sip: FakeSipPort;
  sessions: FakeSessions;
  cdr: MemoryCdrSink;
  registry: CallRegistry;
  metrics: Metrics;
  logs: Array<Record<string, unknown>>;
  /** Webhook events the calls published. */
  events: MemoryEventSink;
  /** Gives the calls from now on a live-call registry (src/calls/live-calls.ts). */
  setLiveCalls(sink: LiveCallSink): void;
}

/** A pino logger whose lines land, parsed, in `logs`. */
export function captureLogs(level: pino.Level = 'debug'): { log: pino.Logger; logs: Array<Record<string, unknown>> } {
  const logs: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level }, stream), logs };
}

const CALL_ID_KEY = 'test-call-id-key';
/** The harness's Call-ID hash: tests find a call's log lines and CDR by it. */
export const callIdHash = callIdHasher(CALL_ID_KEY);

export function createHarness(overrides: Record<string, unknown> = {}, media: MediaSettings | null = null): Harness {
  // Media flows run on the fake media port; config only needs to name a server for mode=anchor.
  const withServer = media ? { ...overrides, media: { servers: ['fake-media:8021:secret'], ...(overrides.media as object | undefined) } } : overrides;
  const config = loadConfig({ files: ['config/default.json', 'config/test.json'], overrides: withServer });
  const { log, logs } = captureLogs();
  const sip = new FakeSipPort();
  const sessions = new FakeSessions();
  const cdr = new MemoryCdrSink();
  const metrics = new Metrics();
  const registry = new CallRegistry(log);
  const events = new MemoryEventSink();
  const callEvents = new CallEvents(events, media?.recordingDir ?? config.media.recording.dir);
  const deps: CallDeps = {
    ...callDepsFromConfig(config, {
      sip, sessions, cdr, metrics, log, callIdKey: CALL_ID_KEY, isDraining: () => registry.isDraining, callEvents,
      hooks: hooksFromConfig(config.hooks, { metrics: hookMetrics(metrics.registry), create: (s) => sessions.create(s) }),
    }),
    media,
  };
  sip.onInvite(createInviteHandler(deps, registry));
  return { config, sip, sessions, cdr, registry, metrics, logs, events, setLiveCalls: (sink) => void (deps.liveCalls = sink) };
}

/** An INVITE from the trunk: `caller` calls the virtual number. */
export function inviteFrom(caller: string, opts: { v?: string; source?: string; headers?: Record<string, string>; sdp?: string } = {}) {
  const v = opts.v ?? V;
  return {
    source: opts.source ?? '127.0.0.1',
    requestUri: `sip:${v}@127.0.0.1:5060`,
    headers: {
      From: `"Alice Customer" <sip:${caller}@carrier.example>;tag=abc`,
      To: `<sip:${v}@carrier.example>`,
      ...opts.headers,
    },
    sdp: opts.sdp ?? SDP_A,
  };
}

/** Lets pending promise callbacks run. */
export const settle = () => new Promise<void>((r) => setImmediate(r));
