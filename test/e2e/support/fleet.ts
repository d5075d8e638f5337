/**
 * A maskbridge fleet on loopback, for fault runs (test/e2e/fleet-faults.test.ts, bench/fleet-faults.ts):
 * two maskbridge processes on one drachtio-server, two FreeSWITCH as one media pool, and Redis
 * behind Sentinel (1 primary, 1 replica, 3 sentinels), every server started as the Compose file
 * runs it. A run is a stream of calls from one sipp at a steady rate, answered by one sipp phone
 * behind the outbound gateway, with at most one fault injected in its middle; its report counts
 * what the phones and the CDR stream saw.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { callIdHasher } from '../../../src/calls/call-id.js';
import { liveCallKeys } from '../../../src/calls/live-calls.js';
import { loadLibrary } from '../../../src/sessions/library.js';
import { createRedis, redisOptions, type Redis } from '../../../src/sessions/redis.js';
import { SessionStore } from '../../../src/sessions/store.js';
import { ask, SENTINEL_NAME, SentinelSetup } from '../../helpers/redis-sentinel.js';
import { until } from '../../helpers/until.js';
import { A, B, V } from './bed.js';
import { channelCount, type FreeswitchTarget } from './freeswitch.js';
import { kill9, startInstance, type Instance } from './instances.js';
import { pidsOf } from './procs.js';
import { uacScenario, uasScenario } from './scenarios.js';
import { freeSippPort, type DrachtioTarget, type Resolved } from './servers.js';
import { loggedMessages, startSipp, type LoggedMessage } from './sipp.js';

export type Fault = 'none' | 'kill -9 of an app instance' | 'kill of a FreeSWITCH' | 'Redis failover';

export interface FaultReport {
  fault: Fault;
  rate: number;
  /** Calls the trunk placed (distinct Call-IDs). */
  attempted: number;
  answered: number;
  /** Calls that got no 2xx, by what they got instead ('none': no final answer). */
  failed: number;
  failedBy: Record<string, number>;
  /** The same calls by their CDR's `disposition/ended_by` ('no CDR' without one): says a call in set-up on a dead server from one refused for want of a server. */
  failedCause: Record<string, number>;
  /** The first to the last failed call's INVITE (ms); 0 with one or none. */
  failedSpanMs: number;
  /** Answered calls that maskbridge ended before the caller did: CDR ended_by instance-lost or media-lost, or a BYE to the caller. */
  cut: number;
  cutBy: Record<string, number>;
  /**
   * Channels FreeSWITCH sent through its dialplan a second time during the run (its log's
   * "Flipping CID"): a race of its own under load, when the re-INVITE that gives the callee's
   * channel the callee's SDP and our bridge of it cross. The channel then connects to maskbridge
   * again under an id fsmrf no longer knows, is hung up, and its call is cut media-lost at answer
   * (docs/operations.md, "One fault at a time, measured").
   */
  mediaReroutes: number;
  /** The latest cut call's end (its CDR's ended_at) after the fault, ms; 0 without cuts. */
  cutLatestMs: number;
  /** Calls whose CDR count is not exactly one. */
  cdrMissing: number;
  cdrDoubled: number;
  /** CDRs of calls this run did not place. */
  cdrStray: number;
  /** Left once every call ended: live-call registry entries, FreeSWITCH channels, drachtio-server's app dialogs (added by this run), callee dialogs without a BYE. */
  registryLeft: number;
  channelsLeft: number;
  drachtioDialogsLeft: number | null;
  calleeUnended: number;
  /** INVITE to 200, ms, of the answered calls. */
  setupP50Ms: number;
  setupP99Ms: number;
}

export interface FleetServers {
  drachtio: Extract<Resolved<DrachtioTarget>, { ok: true }>;
  freeswitch: Extract<Resolved<FreeswitchTarget>, { ok: true }>;
}

const HEARTBEAT_MS = 2000;
const CALL_ID_KEY = 'e2e-fleet';
const silent = pino({ level: 'silent' });

/** The messages of a sipp log, by Call-ID. */
function byCall(messages: string): Map<string, LoggedMessage[]> {
  const out = new Map<string, LoggedMessage[]>();
  for (const m of loggedMessages(messages)) {
    const id = /^Call-ID:\s*(\S+)/im.exec(m.text)?.[1];
    if (!id) continue;
    const list = out.get(id) ?? [];
    list.push(m);
    out.set(id, list);
  }
  return out;
}

const count = (acc: Record<string, number>, key: string) => void (acc[key] = (acc[key] ?? 0) + 1);
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]! : 0);

export class Fleet {
  readonly dir = mkdtempSync(join(tmpdir(), 'mb-e2e-fleet-'));
  sentinel!: SentinelSetup;
  sip!: DrachtioTarget;
  readonly media: Array<{ dir: string; fs: FreeswitchTarget }> = [];
  readonly instances = new Map<string, Instance>();
  redis!: Redis;
  gatewayPort = 0;
  private readonly keys = liveCallKeys('mb:');
  private readonly hash = callIdHasher(CALL_ID_KEY);

  constructor(private readonly servers: FleetServers, private readonly opts: { rtpPorts: number; logLevel: string } = { rtpPorts: 200, logLevel: 'info' }) {}

  async start(): Promise<void> {
    this.sentinel = await SentinelSetup.start({ downAfterMs: 1000, failoverTimeoutMs: 5000 });
    this.redis = createRedis(redisOptions(this.redisBlock()), silent);
    this.redis.on('error', () => undefined);
    await this.redis.connect();
    await loadLibrary(this.redis);
    await new SessionStore(this.redis, 'mb:', 1000).create({ id: 'order-fleet', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 3_600_000 });
    this.sip = await this.servers.drachtio.start(this.dir);
    for (let i = 0; i < 2; i++) {
      const dir = mkdtempSync(join(tmpdir(), `mb-e2e-fleet-fs${i + 1}-`));
      this.media.push({ dir, fs: await this.servers.freeswitch.start(dir, { rtpPorts: this.opts.rtpPorts }) });
    }
    this.gatewayPort = await freeSippPort();
    await Promise.all(['mb-1', 'mb-2'].map((n) => this.startApp(n)));
  }

  async stop(): Promise<void> {
    for (const inst of this.instances.values()) await kill9(inst);
    this.instances.clear();
    await this.redis?.close().catch(() => undefined);
    for (const { fs } of this.media) await fs.stop().catch(() => undefined);
    await this.sip?.stop();
    await this.sentinel?.stop();
  }

  private redisBlock() {
    // With Sentinel, docs/operations.md has CDRs and events leave their spools only once a replica has them.
    return {
      url: 'redis://127.0.0.1', keyPrefix: 'mb:', commandTimeoutMs: 500, sentinels: this.sentinel.sentinels, sentinelName: SENTINEL_NAME, sentinelPassword: '',
      waitReplicas: 1, waitTimeoutMs: 100,
    };
  }

  async startApp(name: string): Promise<void> {
    const inst = await startInstance(this.dir, name, {
      drachtio: { admin: this.sip.admin, sip: this.sip.sip }, redisUrl: 'redis://127.0.0.1', gatewayPort: this.gatewayPort,
      overrides: {
        redis: this.redisBlock(),
        calls: { instanceId: name, heartbeatMs: HEARTBEAT_MS, callIdKey: CALL_ID_KEY, closeSweepSec: 60, maxDurationSec: 120 },
        defences: { maxCallsPerSession: 0 },
        media: {
          mode: 'anchor', servers: this.media.map(({ fs }) => `${fs.esl.host}:${fs.esl.port}:${fs.esl.secret}`), eslListenAddress: '127.0.0.1',
          recording: { enabledByDefault: false, dir: this.media[0]!.fs.recordingsDir },
        },
        log: { level: this.opts.logLevel },
      },
    });
    this.instances.set(name, inst);
  }

  /** Injects `fault`; resolves with when it struck and how to undo it once the run is over. */
  private async inject(fault: Fault): Promise<{ at: number; restore: () => Promise<void> }> {
    if (fault === 'kill -9 of an app instance') {
      const victim = this.instances.get('mb-2')!;
      const at = await kill9(victim);
      this.instances.delete(victim.name);
      return { at, restore: () => this.startApp(victim.name) };
    }
    if (fault === 'kill of a FreeSWITCH') {
      const victim = this.media[1]!;
      const [pid] = pidsOf('freeswitch', victim.dir);
      const at = Date.now();
      process.kill(pid!, 'SIGKILL');
      return { at, restore: async () => {
        await victim.fs.stop().catch(() => undefined);
        await victim.fs.start!();
      } };
    }
    if (fault === 'Redis failover') {
      const at = Date.now();
      await ask(this.sentinel.sentinelPorts[0]!, ['SENTINEL', 'FAILOVER', SENTINEL_NAME]);
      return { at, restore: async () => undefined };
    }
    return { at: Date.now(), restore: async () => undefined };
  }

  /**
   * `seconds` of new calls at `rate` a second (each talks `talkMs`, or is cut), `fault` injected
   * `faultAfterMs` in; then waits for every call, CDR and channel to settle, undoes the fault, and
   * reports. The fleet is whole again afterwards.
   */
  async run(name: string, opts: { fault: Fault; rate: number; seconds: number; talkMs: number; faultAfterMs: number }): Promise<FaultReport & { faultAt: number; cdrWaitMs: number }> {
    await this.redis.del('mb:cdr');
    const dialogsBefore = this.drachtioDialogs() ?? 0;
    const fsLogsBefore = this.media.map((_, i) => this.fsLogSize(i));
    const calls = opts.rate * opts.seconds;
    const callee = startSipp({
      name: `${name}-callee`, scenarioXml: uasScenario({ outcome: 'answer', hangup: 'caller', ringMs: 20 }), dir: this.dir, localIp: '127.0.0.1',
      localPort: this.gatewayPort, timeoutSec: opts.seconds + 90, calls,
    });
    await new Promise((r) => setTimeout(r, 150));
    const caller = startSipp({
      name: `${name}-caller`, scenarioXml: uacScenario({ outcome: 'answer', hangup: 'caller', byeFirst: true, talkMs: opts.talkMs }), dir: this.dir,
      localIp: '127.0.0.1', localPort: await freeSippPort(), remote: `${this.sip.sip.host}:${this.sip.sip.port}`, service: V, keys: { caller: A },
      calls, rate: opts.rate, limit: calls, timeoutSec: opts.seconds + 60,
    });
    let struck: { at: number; restore: () => Promise<void> } | null = null;
    if (opts.fault !== 'none') {
      await new Promise((r) => setTimeout(r, opts.faultAfterMs));
      struck = await this.inject(opts.fault);
    }
    const callerResult = await caller.done;
    // Every call that reached the phone behind the gateway ends with a BYE to it, the cut ones
    // from the instance or the survivor that ended them: wait for the registry to empty, then a beat.
    await until(async () => (await this.redis.hLen(this.keys.calls)) === 0, 30_000, 200).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2 * HEARTBEAT_MS));
    callee.kill();
    const calleeResult = await callee.done;
    await struck?.restore();
    await until(async () => (await Promise.all(this.media.map(({ fs }) => channelCount(fs.esl)))).every((c) => c === 0), 20_000, 200).catch(() => undefined);
    // CDRs leave the instances' spools once a replica has them: after a failover, once the old
    // primary has synced as the new one's replica. Wait for them (30 s at most), and say how long.
    const settled = Date.now();
    const measure = async () => {
      const r = await this.report(opts, struck?.at ?? 0, callerResult.messages, calleeResult.messages);
      return { ...r, drachtioDialogsLeft: r.drachtioDialogsLeft === null ? null : r.drachtioDialogsLeft - dialogsBefore, mediaReroutes: this.fsReroutes(fsLogsBefore) };
    };
    let report = await measure();
    while (report.cdrMissing > (report.failedBy.none ?? 0) && Date.now() - settled < 30_000) {
      await new Promise((r) => setTimeout(r, 500));
      report = await measure();
    }
    return { ...report, cdrWaitMs: Date.now() - settled, faultAt: struck?.at ?? 0 };
  }

  private async report(opts: { fault: Fault; rate: number }, faultAt: number, callerLog: string, calleeLog: string): Promise<FaultReport> {
    const cdrs = (await this.redis.xRange('mb:cdr', '-', '+')).map((e) => e.message as Record<string, string>);
    const cdrsOf = new Map<string, Record<string, string>[]>();
    for (const c of cdrs) cdrsOf.set(c.call_id ?? '', [...(cdrsOf.get(c.call_id ?? '') ?? []), c]);
    const r: FaultReport = {
      fault: opts.fault, rate: opts.rate, attempted: 0, answered: 0, failed: 0, failedBy: {}, failedCause: {}, failedSpanMs: 0, cut: 0, cutBy: {}, mediaReroutes: 0, cutLatestMs: 0,
      cdrMissing: 0, cdrDoubled: 0, cdrStray: 0, registryLeft: 0, channelsLeft: 0, drachtioDialogsLeft: null, calleeUnended: 0, setupP50Ms: 0, setupP99Ms: 0,
    };
    const failedAt: number[] = [];
    const setup: number[] = [];
    const placed = new Set<string>();
    for (const [callId, msgs] of byCall(callerLog)) {
      const invite = msgs.find((m) => m.direction === 'sent' && m.text.startsWith('INVITE '));
      if (!invite) continue;
      r.attempted++;
      const hashed = this.hash(callId);
      placed.add(hashed);
      const final = msgs.find((m) => m.direction === 'received' && /^SIP\/2\.0 [2-6]\d\d/.test(m.text) && /^CSeq:\s*1 INVITE/im.test(m.text));
      const status = final ? Number(final.text.slice(8, 11)) : null;
      const own = cdrsOf.get(hashed) ?? [];
      if (own.length === 0) r.cdrMissing++;
      if (own.length > 1) r.cdrDoubled++;
      if (status === null || status >= 300) {
        r.failed++;
        count(r.failedBy, status === null ? 'none' : String(status));
        count(r.failedCause, own[0] ? `${own[0].disposition ?? ''}/${own[0].ended_by ?? ''}` : 'no CDR');
        failedAt.push(invite.at);
        continue;
      }
      r.answered++;
      setup.push(final!.at - invite.at);
      const endedBy = own[0]?.ended_by ?? '';
      const byeToCaller = msgs.some((m) => m.direction === 'received' && m.text.startsWith('BYE '));
      if (endedBy === 'instance-lost' || endedBy === 'media-lost' || byeToCaller) {
        r.cut++;
        count(r.cutBy, endedBy || 'bye');
        const ended = Date.parse(own[0]?.ended_at ?? '');
        if (Number.isFinite(ended) && faultAt > 0) r.cutLatestMs = Math.max(r.cutLatestMs, ended - faultAt);
      }
    }
    r.cdrStray = [...cdrsOf.keys()].filter((k) => !placed.has(k)).length;
    r.failedSpanMs = failedAt.length > 1 ? Math.max(...failedAt) - Math.min(...failedAt) : 0;
    r.setupP50Ms = pct(setup, 50);
    r.setupP99Ms = pct(setup, 99);
    for (const msgs of byCall(calleeLog).values()) {
      const answered = msgs.some((m) => m.direction === 'sent' && /^SIP\/2\.0 200/.test(m.text) && /^CSeq:\s*\d+ INVITE/im.test(m.text));
      if (answered && !msgs.some((m) => m.direction === 'received' && m.text.startsWith('BYE '))) r.calleeUnended++;
    }
    r.registryLeft = await this.redis.hLen(this.keys.calls);
    r.channelsLeft = (await Promise.all(this.media.map(({ fs }) => channelCount(fs.esl).catch(() => 0)))).reduce((a, b) => a + b, 0);
    r.drachtioDialogsLeft = this.drachtioDialogs();
    return r;
  }

  /** FreeSWITCH's own log (mod_logfile) of media server `i`, under its run directory. */
  private fsLog(i: number): string {
    return join(this.media[i]!.dir, 'freeswitch', 'var', 'log', 'freeswitch', 'freeswitch.log');
  }

  private fsLogSize(i: number): number {
    try {
      return statSync(this.fsLog(i)).size;
    } catch {
      return 0;
    }
  }

  /** "Flipping CID" lines the media servers logged after the byte offsets `from` (FaultReport.mediaReroutes). */
  private fsReroutes(from: number[]): number {
    let n = 0;
    for (const [i, offset] of from.entries()) {
      let text: Buffer;
      try {
        text = readFileSync(this.fsLog(i));
      } catch {
        continue;
      }
      n += (text.subarray(offset <= text.length ? offset : 0).toString('utf8').match(/Flipping CID/g) ?? []).length;
    }
    return n;
  }

  /** The dialogs drachtio-server last said it tracks for its applications (its info log), or null without the log. */
  private drachtioDialogs(): number | null {
    if (!this.sip.logFile) return null;
    const lines = readFileSync(this.sip.logFile, 'utf8').match(/(?:dialogs count is now|now tracking): \d+/g);
    return lines?.length ? Number(/\d+$/.exec(lines[lines.length - 1]!)![0]) : null;
  }
}
