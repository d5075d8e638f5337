/**
 * Orphan spools (docs/scale-out.md, "Orphan spools"): with per-instance spool directories
 * (instance-dir.ts), an instance that stops for good (a container replaced, a host lost) leaves
 * CDRs and events that Redis may not have. Every instance looks at its siblings' directories
 * every `scanMs`; one whose instance has had no heartbeat in Redis ({prefix}spool:owner:{id}, which
 * each instance with such a directory renews every `beatMs`) for `graceMs` (as this instance saw it), and whose files nobody has
 * written for `graceMs`, is claimed in Redis and replayed through this instance's own stream
 * writers, then removed (or, when something is left in it, e.g. poison records, moved to
 * `{root}/.replayed/`):
 *
 *   {prefix}spool:owner:{id}   STRING epoch ms, PX 3 x beatMs: the instance that owns directory {id} runs
 *   {prefix}spool:claim:{id}   STRING the claiming instance's id, PX claimTtlMs, renewed while it replays
 *
 * The owner's heartbeat is its own, not the live-call registry's (whose id carries a tag per
 * process life): a directory belongs to the instance id, across restarts under that id.
 *
 * The claim is taken only while the owner has no heartbeat, and renewed only while it still has
 * none: an owner that comes back under its id keeps its spool (it replays it itself; whatever
 * both sent lands once, the stream de-duplicates on the record's id). Replay reads the files in
 * chunks (spool.ts) and leaves the segments on disk until the end, when they are deleted only if
 * no one appended to them meanwhile. One directory at a time per instance. Each replay is counted
 * (OrphanSpoolMetrics: maskbridge_orphan_spool_replays_total, maskbridge_orphan_spool_records_total).
 */
import { mkdir, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { runScript, type Redis } from '../sessions/redis.js';
import { withDeadline } from '../util/deadline.js';
import type { RecordCodec } from './codec.js';
import { SpoolFiles } from './files.js';
import { isSafeInstanceId, type InstanceLayout } from './instance-dir.js';
import type { RecordTarget } from './redis-stream.js';
import { SpoolingSink } from './sink.js';
import { Spool } from './spool.js';

/** The spools an orphan directory can hold: the label `spool` of the metrics. */
export type OrphanSpoolName = 'cdr' | 'events';

const KIND_NAMES: Record<OrphanSpoolName, string> = { cdr: 'CDR spool', events: 'event spool' };

/** What is replayed: one kind of spool (CDRs, events), where its instance directories are, and where its records go. */
export interface OrphanKind {
  readonly spool: OrphanSpoolName;
  /** As the logs say it ("CDR spool", "event spool"). */
  readonly name: string;
  readonly layout: InstanceLayout;
  /** A sink replaying `spoolFile` into this instance's target, leaving the segments on disk. */
  replay(spoolFile: string): ReplaySink;
  /** True when records of `spoolFile` are not yet confirmed (read from the checkpoint on, afresh). */
  leftover(spoolFile: string): Promise<boolean>;
}

export interface ReplaySink {
  readonly ready: Promise<void>;
  readonly backlog: number;
  flush(timeoutMs: number): Promise<void>;
  close(timeoutMs: number): Promise<void>;
}

export function orphanKind<T>(spool: OrphanSpoolName, layout: InstanceLayout, codec: RecordCodec<T>, target: RecordTarget<T>, log: Logger): OrphanKind {
  const spoolOpts = { segmentBytes: 4 * 1024 * 1024, fsync: false, syncMs: 0, checkpointMs: 1000, retryMs: 500, maxQueued: 0, keepFinished: true };
  return {
    spool,
    name: KIND_NAMES[spool],
    layout,
    replay: (spoolFile) => new SpoolingSink(target, codec, { spoolFile, fsync: false, checkpointMs: 1000, keepFinished: true }, log),
    leftover: async (spoolFile) => {
      const spool = new Spool(spoolFile, codec, spoolOpts, log);
      try {
        return (await spool.peek(1)).length > 0;
      } finally {
        await spool.close(0);
      }
    },
  };
}

export interface OrphanSpoolOptions {
  instanceId: string;
  keyPrefix: string;
  /** How long an instance must have had no heartbeat (and its files no write) before its spool is taken. */
  graceMs: number;
  /** 0: never look at other instances' directories (this instance's heartbeat still runs). */
  scanMs: number;
  /** How often this instance renews its own heartbeat (default 5 s). */
  beatMs?: number;
  /** Lifetime of the claim; renewed every third of it while replaying. */
  claimTtlMs: number;
  /** Deadline of each Redis round trip. */
  timeoutMs: number;
  /** A replay that confirms nothing for this long is given up (and tried again at a later scan). */
  stallMs: number;
  /** Counts the replays and their records (src/metrics/metrics.ts; docs/observability.md). */
  metrics?: OrphanSpoolMetrics;
}

/**
 * maskbridge_orphan_spool_replays_total{spool,outcome}: each replay of an orphan directory, once
 * per spool in it, with the replay's result; maskbridge_orphan_spool_records_total{spool}: the
 * records replays took off those spools (sent from the checkpoint on and confirmed, or set aside as poison).
 */
export interface OrphanSpoolMetrics {
  replays: { inc(labels: { spool: OrphanSpoolName; outcome: ReplayOutcome['result'] }, value?: number): void };
  records: { inc(labels: { spool: OrphanSpoolName }, value?: number): void };
}

export interface ReplayOutcome {
  instance: string;
  /** replayed: done and removed; left: given up for now (the reason says why). */
  result: 'replayed' | 'left';
  reason?: string;
  records: number;
}

/** KEYS[1] claim, KEYS[2] the owner's heartbeat; ARGV[1] me, ARGV[2] PX. 1 claimed, 0 claimed by another, -1 the owner is alive. */
const CLAIM = `
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`;
/** Same keys: 1 renewed, 0 the claim is no longer mine, -1 the owner is back. */
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const FLUSH_STEP_MS = 1000;
const CLOSE_MS = 2000;
export const ARCHIVE_DIR = '.replayed';

export class OrphanSpools {
  private timer: NodeJS.Timeout | null = null;
  private beater: NodeJS.Timeout | null = null;
  private scanning: Promise<ReplayOutcome[]> | null = null;
  private stopped = false;
  private stop_: () => void = () => undefined;
  private readonly stopping = new Promise<void>((r) => (this.stop_ = r));
  /** When this instance first saw each sibling without a heartbeat. */
  private readonly deadSince = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly kinds: readonly OrphanKind[],
    private readonly opts: OrphanSpoolOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    // Every series from the start, so that increase() and alerts see the first replay.
    for (const { spool } of kinds) {
      opts.metrics?.records.inc({ spool }, 0);
      for (const outcome of ['replayed', 'left'] as const) opts.metrics?.replays.inc({ spool, outcome }, 0);
    }
  }

  start(): void {
    if (this.kinds.length === 0) return;
    const beatMs = this.opts.beatMs ?? 5000;
    const beat = () => void withDeadline(this.redis.set(this.heartbeatKey(this.opts.instanceId), String(this.now()), { PX: beatMs * 3 }), this.opts.timeoutMs)
      .catch((err: Error) => this.log.warn({ err: err.message }, 'spool heartbeat not written'));
    beat();
    this.beater = setInterval(beat, beatMs);
    this.beater.unref();
    if (this.opts.scanMs <= 0) return;
    this.timer = setInterval(() => void this.scan().catch((err: Error) => this.log.warn({ err: err.message }, 'orphan spool scan failed')), this.opts.scanMs);
    this.timer.unref();
  }

  /** Stops scanning; a replay under way is closed (its progress is in its checkpoint) within CLOSE_MS or so. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.stop_();
    if (this.timer) clearInterval(this.timer);
    if (this.scanning) await withDeadline(this.scanning, timeoutMs).catch(() => undefined);
    if (this.beater) {
      clearInterval(this.beater);
      // A clean stop: the directory keeps its owner's name, and its leftovers go to a survivor after the grace period.
      await withDeadline(this.redis.del(this.heartbeatKey(this.opts.instanceId)), this.opts.timeoutMs).catch(() => undefined);
    }
  }

  /** One look at the siblings (a scan already under way is shared). */
  scan(): Promise<ReplayOutcome[]> {
    this.scanning ??= this.scanOnce().finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<ReplayOutcome[]> {
    const out: ReplayOutcome[] = [];
    const ids = await this.siblings();
    for (const id of this.deadSince.keys()) if (!ids.has(id)) this.deadSince.delete(id);
    for (const id of ids) {
      if (this.stopped) break;
      const alive = (await withDeadline(this.redis.exists(this.heartbeatKey(id)), this.opts.timeoutMs)) === 1;
      if (alive) {
        this.deadSince.delete(id);
        continue;
      }
      const now = this.now();
      const since = this.deadSince.get(id) ?? now;
      this.deadSince.set(id, since);
      if (now - since < this.opts.graceMs) continue;
      const newest = await this.newestWrite(id);
      if (newest === null || now - newest < this.opts.graceMs) continue;
      const claimed = await withDeadline(runScript(this.redis, CLAIM, [this.claimKey(id), this.heartbeatKey(id)], [this.opts.instanceId, String(this.opts.claimTtlMs)]), this.opts.timeoutMs);
      if (claimed !== 1) continue;
      if ((await this.newestWrite(id)) === null) {
        // Replayed and removed by another instance between the look and the claim.
        await this.release(id);
        continue;
      }
      out.push(await this.replay(id, newest));
    }
    return out;
  }

  /** Instance directories under the kinds' roots, other than this instance's. */
  private async siblings(): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const root of new Set(this.kinds.map((k) => k.layout.root))) {
      let entries;
      try {
        entries = await readdir(root, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for (const e of entries) if (e.isDirectory() && e.name !== this.opts.instanceId && isSafeInstanceId(e.name)) ids.add(e.name);
    }
    return ids;
  }

  private spoolFile(kind: OrphanKind, id: string): string {
    return join(kind.layout.root, id, kind.layout.rest);
  }

  /** The spool files of instance `id`, each kind's, with their last write (ms). */
  private async filesOf(id: string): Promise<Array<{ kind: OrphanKind; spoolFile: string; files: Array<{ path: string; mtimeMs: number; segment: boolean }> }>> {
    const out = [];
    for (const kind of this.kinds) {
      const spoolFile = this.spoolFile(kind, id);
      const sf = new SpoolFiles(spoolFile);
      const segments = new Set((await sf.segments().catch(() => [] as number[])).map((seq) => sf.segment(seq)));
      const base = basename(spoolFile);
      let names: string[] = [];
      try {
        names = (await readdir(dirname(spoolFile))).filter((n) => n === base || n.startsWith(`${base}.`));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      const files = [];
      for (const n of names) {
        const path = join(dirname(spoolFile), n);
        const st = await stat(path).catch(() => null);
        if (st?.isFile()) files.push({ path, mtimeMs: st.mtimeMs, segment: segments.has(path) });
      }
      out.push({ kind, spoolFile, files });
    }
    return out;
  }

  /** The last write to any spool file of `id` (null: it has none, nothing to replay). */
  private async newestWrite(id: string): Promise<number | null> {
    let newest: number | null = null;
    for (const { files } of await this.filesOf(id)) for (const f of files) newest = Math.max(newest ?? 0, f.mtimeMs);
    return newest;
  }

  /** replayOnce, counted: each spool of `id` with files gets the replay's result ('left' when it threw). */
  private async replay(id: string, newestAtClaim: number): Promise<ReplayOutcome> {
    const spools = new Set<OrphanSpoolName>();
    let result: ReplayOutcome['result'] = 'left';
    try {
      const out = await this.replayOnce(id, newestAtClaim, spools);
      result = out.result;
      return out;
    } finally {
      for (const spool of spools) this.opts.metrics?.replays.inc({ spool, outcome: result });
    }
  }

  /** Adds to `seen` each spool of `id` it finds files of. */
  private async replayOnce(id: string, newestAtClaim: number, seen: Set<OrphanSpoolName>): Promise<ReplayOutcome> {
    let lost: string | null = null;
    let abort: () => void = () => undefined;
    const aborted = new Promise<void>((r) => (abort = r));
    const lose = (why: string) => {
      lost ??= why;
      abort();
    };
    let lastRenewal = this.now();
    const renew = async (): Promise<void> => {
      try {
        const r = await withDeadline(runScript(this.redis, RENEW, [this.claimKey(id), this.heartbeatKey(id)], [this.opts.instanceId, String(this.opts.claimTtlMs)]), this.opts.timeoutMs);
        if (r === 1) lastRenewal = this.now();
        else lose(r === -1 ? 'the instance is back' : 'the claim was lost');
      } catch {
        if (this.now() - lastRenewal > (this.opts.claimTtlMs * 2) / 3) lose('the claim could not be renewed');
      }
    };
    const renewer = setInterval(() => void renew(), Math.max(1, Math.floor(this.opts.claimTtlMs / 3)));
    renewer.unref();
    let records = 0;
    const left = (reason: string): ReplayOutcome => {
      this.log.warn({ instance: id, reason, records }, 'orphan spool left in place for now; tried again later');
      return { instance: id, result: 'left', reason, records };
    };
    try {
      const spools = (await this.filesOf(id)).filter((s) => s.files.length > 0);
      for (const { kind } of spools) seen.add(kind.spool);
      for (const { kind, spoolFile } of spools) {
        const sink = kind.replay(spoolFile);
        let backlogAtStart: number | null = null;
        try {
          await sink.ready;
          backlogAtStart = sink.backlog;
          records += sink.backlog;
          this.log.warn({ instance: id, spool: spoolFile, count: sink.backlog }, `replaying the ${kind.name} of an instance gone for good`);
          let last = sink.backlog;
          let progressAt = this.now();
          while (sink.backlog > 0 && !lost && !this.stopped) {
            await Promise.race([sink.flush(FLUSH_STEP_MS), aborted, this.stopping]);
            if (sink.backlog < last) {
              last = sink.backlog;
              progressAt = this.now();
            } else if (this.now() - progressAt > this.opts.stallMs) {
              lose(`no record confirmed for ${this.opts.stallMs} ms`);
            }
          }
        } finally {
          await sink.close(this.stopped || lost ? 0 : CLOSE_MS);
          if (backlogAtStart !== null) this.opts.metrics?.records.inc({ spool: kind.spool }, Math.max(0, backlogAtStart - sink.backlog));
        }
        if (this.stopped) return left('stopping');
        if (lost) return left(lost);
        if (await kind.leftover(spoolFile)) return left(`records of the ${kind.name} not yet confirmed`);
      }
      await renew();
      if (lost) return left(lost);
      return await this.finish(id, newestAtClaim, records);
    } finally {
      clearInterval(renewer);
      await this.release(id);
    }
  }

  private release(id: string): Promise<void> {
    return withDeadline(runScript(this.redis, RELEASE, [this.claimKey(id)], [this.opts.instanceId]), this.opts.timeoutMs).then(() => undefined, () => undefined);
  }

  /** Deletes the replayed spools; the directory goes too, or to the archive when something else is left in it. */
  private async finish(id: string, newestAtClaim: number, records: number): Promise<ReplayOutcome> {
    const spools = await this.filesOf(id);
    if (spools.some((s) => s.files.some((f) => f.segment && f.mtimeMs > newestAtClaim))) {
      this.log.warn({ instance: id }, 'a spool segment of that instance was written while it was replayed: left in place');
      return { instance: id, result: 'left', reason: 'written while replayed', records };
    }
    for (const { spoolFile, files } of spools) {
      const keep = new Set([`${spoolFile}.poison`]);
      for (const f of files) if (!keep.has(f.path)) await unlink(f.path).catch(() => undefined);
    }
    let archived: string | null = null;
    for (const dir of new Set(this.kinds.map((k) => join(k.layout.root, id)))) {
      try {
        await rmdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        const to = join(dirname(dir), ARCHIVE_DIR, `${id}-${new Date(this.now()).toISOString().replace(/[:.]/g, '-')}`);
        await mkdir(dirname(to), { recursive: true });
        await rename(dir, to);
        archived = to;
      }
    }
    if (archived) this.log.warn({ instance: id, records, dir: archived }, 'orphan spool replayed; its directory holds other files (poison records) and was moved: look there');
    else this.log.info({ instance: id, records }, 'orphan spool replayed and removed');
    return { instance: id, result: 'replayed', records };
  }

  private heartbeatKey(id: string): string {
    return `${this.opts.keyPrefix}spool:owner:${id}`;
  }

  private claimKey(id: string): string {
    return `${this.opts.keyPrefix}spool:claim:${id}`;
  }
}
