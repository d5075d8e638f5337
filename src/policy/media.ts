/** Pure media decisions. */

export interface ServerLoad {
  healthy: boolean;
  /** Channels this app holds on the server. */
  active: number;
  /** From FreeSWITCH heartbeats (0 until the first one). */
  currentSessions: number;
  maxSessions: number;
  cpuIdle: number;
}

/** The healthy server with the fewest of our channels (then the most idle CPU); null when none can take a call. */
export function pickLeastLoaded<T extends ServerLoad>(servers: readonly T[]): T | null {
  let best: T | null = null;
  for (const s of servers) {
    if (!s.healthy) continue;
    if (s.maxSessions > 0 && s.currentSessions >= s.maxSessions) continue;
    if (!best || s.active < best.active || (s.active === best.active && s.cpuIdle > best.cpuIdle)) best = s;
  }
  return best;
}

export type NoServerOutcome =
  | { action: 'reject'; status: 503; reason: string }
  | { action: 'signalling-only' };

/**
 * With no healthy media server: reject, or connect without media anchoring (and so unrecorded),
 * as configured. A session that explicitly requires recording is never connected unrecorded.
 */
export function whenNoMediaServer(policy: 'reject' | 'signalling-only', sessionRecordFlag: boolean | undefined): NoServerOutcome {
  if (policy === 'signalling-only' && sessionRecordFlag !== true) return { action: 'signalling-only' };
  return { action: 'reject', status: 503, reason: 'Service Unavailable' };
}
