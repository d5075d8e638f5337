/**
 * The edge gate: what an INVITE must pass before the app spends anything on it (no CallSession,
 * no CDR, no Redis command). In order: the trunk ACL, known scanner User-Agents, then a
 * per-source INVITE rate limit with a temporary ban (after Kamailio's pike module: over `limit`
 * INVITEs within `windowMs` bans the source for `banMs`, and a source that keeps flooding
 * while banned stays banned). Named trunk sources get their own limit, or none.
 *
 * Everything here is O(1) per INVITE and bounded in memory: at most `maxSources` sources are
 * tracked, the least recently seen dropped first (Map insertion order).
 */
import { BlockList, isIP } from 'node:net';
import { addCidr, type TrunkSource } from '../config/schema.js';
import { isTrunkSource } from './identify.js';
import type { InviteInfo } from './port.js';

export type GateReason = 'acl' | 'scanner' | 'rate-limited' | 'banned';

export interface Refusal {
  pass: false;
  reason: GateReason;
  status: number;
  phrase: string;
  /** True for the INVITE that started a ban (log it once, not per INVITE). */
  banStarted: boolean;
}

export type GateVerdict = { pass: true } | Refusal;

export type { TrunkSource };

export interface DefenceSettings {
  /** Case-insensitive substrings of the User-Agent header. */
  scannerUserAgents: string[];
  scannerStatus: number;
  rateLimit: {
    /** INVITEs per window per source; 0 turns the limit off. */
    limit: number;
    windowMs: number;
    banMs: number;
    status: number;
    maxSources: number;
  };
  trunkSources: TrunkSource[];
}

interface SourceState {
  windowStart: number;
  count: number;
  bannedUntil: number;
}

const PHRASES: Record<number, string> = { 403: 'Forbidden', 429: 'Too Many Requests', 503: 'Service Unavailable', 603: 'Decline' };

export class SourceGate {
  private readonly scanners: string[];
  private readonly trunks: { list: BlockList; limit: number | null }[];
  private readonly sources = new Map<string, SourceState>();
  /** Per-source trunk verdicts (trunks are few, but BlockList#check costs tens of µs). */
  private readonly limits = new Map<string, number | null>();
  private banned = 0;

  constructor(private readonly acl: BlockList, private readonly s: DefenceSettings) {
    this.scanners = s.scannerUserAgents.map((u) => u.toLowerCase()).filter(Boolean);
    this.trunks = s.trunkSources.map((t) => {
      const list = new BlockList();
      addCidr(list, t.cidr);
      return { list, limit: t.limit };
    });
  }

  /** Sources banned now (approximate: counted when bans start and when expired bans are seen). */
  get bannedSources(): number {
    return this.banned;
  }

  check(info: Pick<InviteInfo, 'sourceAddress' | 'header'>, now: number): GateVerdict {
    const source = info.sourceAddress;
    if (!isTrunkSource(this.acl, source)) return this.refuse('acl', 403);
    const limit = this.limitFor(source);
    // A limited source already banned is refused before its headers are read.
    if (limit !== null) {
      const st = this.sources.get(source);
      if (st && st.bannedUntil > now) return this.count(source, st, limit, now) ?? this.refuse('banned', this.s.rateLimit.status);
    }
    if (this.scanners.length > 0) {
      const ua = info.header('user-agent')?.toLowerCase();
      if (ua && this.scanners.some((s) => ua.includes(s))) return this.refuse('scanner', this.s.scannerStatus);
    }
    if (limit === null) return { pass: true };
    let st = this.sources.get(source);
    if (!st) st = { windowStart: now, count: 0, bannedUntil: 0 };
    return this.count(source, st, limit, now) ?? { pass: true };
  }

  /** Counts one INVITE; a verdict when it starts or extends a ban, else null (within the limit). */
  private count(source: string, st: SourceState, limit: number, now: number): Refusal | null {
    const r = this.s.rateLimit;
    if (now - st.windowStart >= r.windowMs) {
      st.windowStart = now;
      st.count = 0;
    }
    st.count += 1;
    if (st.bannedUntil !== 0 && st.bannedUntil <= now) {
      st.bannedUntil = 0;
      this.banned = Math.max(0, this.banned - 1);
    }
    this.touch(source, st);
    if (st.count <= limit) return null;
    const started = st.bannedUntil === 0;
    if (started) this.banned += 1;
    st.bannedUntil = now + r.banMs;
    return started ? { ...this.refuse('rate-limited', r.status), banStarted: true } : this.refuse('banned', r.status);
  }

  /** Moves the source to the end of the map (most recent); drops the least recent past maxSources. */
  private touch(source: string, st: SourceState): void {
    this.sources.delete(source);
    this.sources.set(source, st);
    while (this.sources.size > this.s.rateLimit.maxSources) {
      const oldest = this.sources.keys().next().value as string;
      const gone = this.sources.get(oldest);
      if (gone && gone.bannedUntil !== 0) this.banned = Math.max(0, this.banned - 1);
      this.sources.delete(oldest);
    }
  }

  private limitFor(source: string): number | null {
    const known = this.limits.get(source);
    if (known !== undefined) return known;
    let limit: number | null = this.s.rateLimit.limit > 0 ? this.s.rateLimit.limit : null;
    const addr = source.replace(/^::ffff:/, '');
    const family = isIP(addr);
    for (const t of this.trunks) {
      if (family !== 0 && t.list.check(addr, family === 6 ? 'ipv6' : 'ipv4')) {
        limit = t.limit;
        break;
      }
    }
    if (this.limits.size >= 4096) this.limits.clear();
    this.limits.set(source, limit);
    return limit;
  }

  private refuse(reason: GateReason, status: number): Refusal {
    return { pass: false, reason, status, phrase: PHRASES[status] ?? 'Forbidden', banStarted: false };
  }
}
