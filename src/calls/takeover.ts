/**
 * Calls of an instance that died: every instance looks, every heartbeat, for instances on its
 * drachtio-server that stopped beating (src/calls/live-calls.ts), claims their registry entries
 * (one Lua script: each call goes to exactly one survivor), sends BYE in each of the call's
 * dialogs through drachtio-server (which keeps the dialogs of an application whose connection
 * dropped, and sends a BYE named by dialog id for whichever application asks), and writes the
 * call's CDR with ended_by `instance-lost`, under the id the call's own CDR would have had, so
 * that a second write of it, or a late CDR from an instance that was only cut off from Redis,
 * lands once (the CDR stream's de-duplication mark).
 *
 * Bound: the dead instance's heartbeat lapses at most 3 beats after its last one, and the next
 * sweep (every beat) finds it: both parties get their BYE at most 4 beats after the instance died
 * (8 s with the default calls.heartbeatMs of 2000), plus one BYE round trip (docs/operations.md,
 * "Several instances and app-instance failure"). A survivor sweeps only after 3 beats of Redis and drachtio-server
 * being up (at start, after an outage), so that instances whose heartbeats lapsed with an
 * outage have beaten again before anyone looks.
 */
import type { Cdr, CdrSink } from '../cdr/cdr.js';
import type { CallEvents } from './call-events.js';
import type { Logger } from '../log/logger.js';
import type { Redis } from '../sessions/redis.js';
import type { SessionLookup } from '../sessions/store.js';
import type { SipPort } from '../sip/port.js';
import { finalizeRecording, recordingPaths } from '../media/recording.js';
import { withDeadline } from '../util/deadline.js';
import { claimCalls, type LiveCallEntry, type LiveCallKeys } from './live-calls.js';

/** Calls claimed per script call. */
const CLAIM_BATCH = 50;

/**
 * The CDR id of a call ended by a survivor: the id the call's own instance gave it (in the
 * registry entry), so that CDR and this one land once between them; for an entry without one, an
 * id made from the call id, the same whichever survivor writes it.
 */
export const lostCdrId = (entry: Pick<LiveCallEntry, 'callId' | 'lost'>): string => entry.lost?.cdrId ?? `instance-lost-${entry.callId}`;

export interface TakeoverOptions {
  instanceId: string;
  /** This instance's drachtio-server (drachtio.host:port): only calls on it can be ended from here. */
  server: string;
  heartbeatMs: number;
  /** Deadline of each Redis round trip. */
  timeoutMs: number;
  /** Deadline of each BYE's answer. */
  byeTimeoutMs: number;
}

export interface TakeoverDeps {
  redis: Redis;
  keys: LiveCallKeys;
  sip: Pick<SipPort, 'endDialog' | 'cancelInvite' | 'failInvite'>;
  /** With webhooks: the CDR sink is `callEvents.cdrSink(...)`, so the call's call.completed goes out. */
  cdr: CdrSink;
  callEvents?: Pick<CallEvents, 'adopt'>;
  sessions?: Pick<SessionLookup, 'touch'>;
  /**
   * media.recording.dir as this instance sees it (the same volume as every instance's): a cut
   * recorded call's file is renamed into place here, and its CDR describes it.
   */
  recordings?: { dir: string; settleMs: number; timeoutMs: number };
  log: Logger;
  now: () => number;
  /** False while drachtio-server or Redis is away: no sweep then (a claimed call must be ended, not dropped). */
  ready?: () => boolean;
}

export class LostCallSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private stopped = false;
  /** Since when Redis and drachtio-server have been up without a break (null: not now). */
  private readySince: number | null = null;

  constructor(private readonly deps: TakeoverDeps, private readonly opts: TakeoverOptions) {}

  /** Sweeps now and then every beat. */
  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.sweep(), this.opts.heartbeatMs);
    this.timer.unref();
    void this.sweep();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => 0);
  }

  /**
   * One look for dead instances on this drachtio-server, ending their calls; resolves with how
   * many were taken over. Never rejects; one at a time.
   */
  sweep(): Promise<number> {
    if (this.running || this.stopped) return this.running ?? Promise.resolve(0);
    // After start, and after an outage of Redis or drachtio-server, the other instances may not
    // have beaten again yet (their heartbeats lapsed with the outage): no sweep until 3 beats of
    // readiness have passed, or live instances would be taken for dead and their calls cut.
    if (this.deps.ready && !this.deps.ready()) {
      this.readySince = null;
      return Promise.resolve(0);
    }
    const now = this.deps.now();
    this.readySince ??= now;
    if (now - this.readySince < this.opts.heartbeatMs * 3) return Promise.resolve(0);
    this.running = this.sweepOnce()
      .catch((err: Error) => {
        this.deps.log.warn({ err: err.message }, 'lost-instance sweep failed; trying again at the next beat');
        return 0;
      })
      .finally(() => (this.running = null));
    return this.running;
  }

  private async sweepOnce(): Promise<number> {
    const { redis, keys } = this.deps;
    const { timeoutMs, instanceId, server } = this.opts;
    const table = await withDeadline(redis.hGetAll(keys.instances), timeoutMs);
    let taken = 0;
    for (const [instance, at] of Object.entries(table)) {
      // Another drachtio-server's dialogs cannot be ended through this one.
      if (at !== server || instance === instanceId) continue;
      if ((await withDeadline(redis.exists(keys.instance(instance)), timeoutMs)) === 1) continue;
      for (;;) {
        if (this.stopped) return taken;
        const entries = await claimCalls(redis, keys, instance, { max: CLAIM_BATCH, timeoutMs });
        if (entries.length === 0) break;
        await Promise.all(entries.map((e) => this.end(e)));
        taken += entries.length;
      }
    }
    return taken;
  }

  /**
   * The cut call's recording, once FreeSWITCH has closed it (the BYEs hung its channels up):
   * renamed into place as the call's own instance would have; null for a call not recorded.
   */
  private async recording(entry: LiveCallEntry): Promise<Cdr['recording']> {
    const rec = this.deps.recordings;
    const answeredAt = Date.parse(entry.answeredAt);
    if (!entry.lost?.recorded || !rec || !Number.isFinite(answeredAt)) return null;
    const paths = recordingPaths(rec.dir, new Date(answeredAt), entry.sessionId, entry.callId);
    try {
      const info = await finalizeRecording(paths, { settleMs: rec.settleMs, timeoutMs: rec.timeoutMs });
      return { path: info.path, durationSec: Math.round(info.durationSec * 10) / 10, bytes: info.bytes, failed: false };
    } catch (err) {
      this.deps.log.warn({ callId: entry.callId, sessionId: entry.sessionId, err: (err as Error).message, path: paths.partial }, 'recording of a lost instance\'s call not saved');
      return { path: paths.partial, durationSec: 0, bytes: 0, failed: true, error: (err as Error).message };
    }
  }

  /**
   * BYE in every dialog of the call, then its CDR. The entry is ours: nobody else ends this call.
   * A call still being set up first has its callee's INVITE cancelled (a callee who answered
   * already gets the BYE), and its caller gets 503 once the callee's side is over.
   */
  private async end(entry: LiveCallEntry): Promise<void> {
    const dialogs = entry.lost?.dialogs ?? [];
    const answeredAt = Date.parse(entry.answeredAt);
    const setup = Number.isFinite(answeredAt) ? undefined : entry.lost?.setup;
    const { sip } = this.deps;
    const cancelled = setup?.callee && sip.cancelInvite ? await sip.cancelInvite(setup.callee, this.opts.byeTimeoutMs) : false;
    const results = await Promise.all(dialogs.map((d) => sip.endDialog?.(d, this.opts.byeTimeoutMs) ?? Promise.resolve(null)));
    const callerAnswered = setup?.caller && sip.failInvite ? await sip.failInvite(setup.caller, 503, 'Service Unavailable') : false;
    const endedAt = this.deps.now();
    const startedAt = Date.parse(entry.startedAt);
    const cdr: Cdr = {
      id: lostCdrId(entry),
      callId: entry.callId,
      sessionId: entry.sessionId,
      virtualNumber: entry.virtualNumber,
      direction: entry.direction === 'a->b' || entry.direction === 'b->a' ? entry.direction : '',
      startedAt: Number.isFinite(startedAt) ? startedAt : endedAt,
      answeredAt: Number.isFinite(answeredAt) ? answeredAt : null,
      endedAt,
      durationSec: Number.isFinite(answeredAt) ? Math.max(0, Math.round((endedAt - answeredAt) / 1000)) : 0,
      // A call its instance was still setting up (registered at the B-leg INVITE): its caller got
      // 503 from here, or no final answer at all from an entry without the transaction ids.
      finalStatus: Number.isFinite(answeredAt) ? 200 : callerAnswered ? 503 : 0,
      disposition: Number.isFinite(answeredAt) ? 'answered' : 'failed',
      endedBy: 'instance-lost',
      media: entry.lost?.media ?? 'none',
      recording: await this.recording(entry),
      quality: null,
    };
    // The call was answered: its receiver hears call.completed, as from the call's own instance.
    const events = entry.lost?.events ?? { url: '', parties: {} };
    this.deps.callEvents?.adopt(entry.callId, { sessionId: entry.sessionId, virtualNumber: entry.virtualNumber, ...events }, cdr.direction);
    this.deps.cdr.write(cdr);
    if (entry.lost?.slidingTtl && entry.sessionId && this.deps.sessions?.touch) {
      this.deps.sessions.touch(entry.sessionId, endedAt).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'sliding TTL not refreshed'));
    }
    // A BYE answered (any status) or a dialog already gone both mean that leg is over.
    const unanswered = results.filter((r) => r === null).length;
    this.deps.log[unanswered > 0 ? 'warn' : 'info']({
      callId: entry.callId, sessionId: entry.sessionId, lostInstance: entry.instance, dialogs: dialogs.length, unanswered,
      ...(setup ? { inSetup: { calleeCancelled: cancelled, callerAnswered } } : {}),
      results: results.map((r) => r ?? 'no answer'),
    }, 'call of a lost instance hung up');
  }
}
