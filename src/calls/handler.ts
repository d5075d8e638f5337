import type { BlockList } from 'node:net';
import type { AppConfig } from '../config/types.js';
import { parseTrunkSource } from '../config/schema.js';
import { buildAcl, isTrunkSource } from '../sip/identify.js';
import { SourceGate, type DefenceSettings } from '../sip/defences.js';
import { GatewayPool } from '../sip/gateways.js';
import { gatewayUri } from '../sip/scrub.js';
import type { InviteHandler } from '../sip/port.js';
import type { MediaPool } from '../media/port.js';
import { numberFormatter } from '../log/logger.js';
import { callIdHasher } from './call-id.js';
import { CallSession, type CallDeps, type CallPolicy, type MediaSettings } from './call-session.js';
import type { CallRegistry } from './registry.js';

/** The call policy as the call path sees it, derived once from config. */
export function callPolicyFromConfig(config: AppConfig): CallPolicy {
  const out = config.trunk.outbound;
  return {
    acl: buildAcl(config.trunk.inboundAllow),
    identify: { defaultRegion: config.numbers.defaultRegion, virtualNumberFrom: config.numbers.virtualNumberFrom },
    decision: {
      unknownCaller: config.calls.unknownCaller,
      closedSession: config.calls.closedSession,
      outsideWindow: config.calls.outsideWindow,
      recordByDefault: config.media.recording.enabledByDefault,
    },
    outbound: {
      gateway: out.gateway,
      transport: out.transport,
      fromHost: out.fromHost,
      numberFormat: out.numberFormat,
      ...(out.username ? { auth: { username: out.username, password: out.password } } : {}),
    },
    ringTimeoutMs: config.calls.ringTimeoutSec * 1000,
    maxDurationMs: config.calls.maxDurationSec * 1000,
    concurrency: { perSession: config.defences.maxCallsPerSession, perNumber: config.defences.maxCallsPerNumber, status: config.defences.concurrencyStatus },
  };
}

/** The outbound gateways from config (trunk.outbound.gateways, else gateway), pinged over `sip`. */
export function gatewayPoolFromConfig(config: AppConfig, sip: CallDeps['sip'], log: CallDeps['log']): GatewayPool {
  const out = config.trunk.outbound;
  const pingMs = out.pingSec * 1000;
  const ping = sip.ping ? (gw: string, timeoutMs: number) => (sip.ping as NonNullable<typeof sip.ping>)(gatewayUri(gw, out.transport), timeoutMs) : null;
  return new GatewayPool(out.gateways.length > 0 ? out.gateways : [out.gateway], { pingMs, pingTimeoutMs: Math.min(2000, Math.max(200, pingMs / 2)) }, ping, log);
}

/** The edge checks' settings from config (defences.*). */
export function defenceSettingsFromConfig(config: AppConfig): DefenceSettings {
  const d = config.defences;
  return {
    scannerUserAgents: d.scannerUserAgents,
    scannerStatus: d.scannerStatus,
    rateLimit: { limit: d.rateLimit.limit, windowMs: d.rateLimit.windowSec * 1000, banMs: d.rateLimit.banSec * 1000, status: d.rateLimit.status, maxSources: d.rateLimit.maxSources },
    trunkSources: d.trunkSources.map(parseTrunkSource),
  };
}

/** Media settings from config, around a pool (null when media.mode is "none"). */
export function mediaSettingsFromConfig(config: AppConfig, pool: MediaPool | null): MediaSettings | null {
  if (config.media.mode !== 'anchor' || !pool) return null;
  const m = config.media;
  return {
    pool,
    onNoMediaServer: m.onNoMediaServer,
    ringback: m.ringback,
    recordingDir: m.recording.dir,
    consentAnnouncement: m.recording.consentAnnouncement,
    pin: { enabled: m.pin.enabled, prompt: m.pin.prompt, maxDigits: m.pin.maxDigits, timeoutMs: m.pin.timeoutSec * 1000, tries: m.pin.tries },
    recordingSettleMs: 200,
    recordingWriterThread: m.recording.writerThread,
    teardownTimeoutMs: m.commandTimeoutMs,
  };
}

/**
 * What an OPTIONS keep-alive gets: 403 off the trunk ACL, 503 while the app refuses calls
 * (draining for shutdown, or Redis failing), so the carrier moves traffic away; else 200.
 */
export function optionsResponder(acl: BlockList, refusing: () => boolean): (source: string) => number {
  return (source) => {
    if (!isTrunkSource(acl, source)) return 403;
    return refusing() ? 503 : 200;
  };
}

/** The call path's dependencies: the ports and sinks given, everything else derived from config. */
export function callDepsFromConfig(
  config: AppConfig,
  parts: Pick<CallDeps, 'sip' | 'sessions' | 'cdr' | 'metrics' | 'log' | 'isDraining'> & Partial<Pick<CallDeps, 'liveCalls' | 'callEvents' | 'hooks'>> & { pool?: MediaPool | null; callIdKey: string | Buffer; now?: () => number },
): CallDeps {
  const policy = callPolicyFromConfig(config);
  return {
    sip: parts.sip,
    sessions: parts.sessions,
    // Every CDR also ends the call's webhook events (call.completed / call.rejected).
    cdr: parts.callEvents ? parts.callEvents.cdrSink(parts.cdr) : parts.cdr,
    ...(parts.callEvents ? { callEvents: parts.callEvents } : {}),
    metrics: parts.metrics,
    log: parts.log,
    isDraining: parts.isDraining,
    ...(parts.liveCalls ? { liveCalls: parts.liveCalls } : {}),
    ...(parts.hooks ? { hooks: parts.hooks } : {}),
    fmt: numberFormatter(config.log.redactNumbers),
    callIdHash: callIdHasher(parts.callIdKey),
    policy,
    gate: new SourceGate(policy.acl, defenceSettingsFromConfig(config)),
    gateways: gatewayPoolFromConfig(config, parts.sip, parts.log),
    media: mediaSettingsFromConfig(config, parts.pool ?? null),
    now: parts.now ?? Date.now,
  };
}

/**
 * trunk.inboundAllow entries that no named trunk source covers: their INVITEs are rate limited
 * like anyone's (a busy carrier could be banned), which start() warns about.
 */
export function rateLimitedTrunkEntries(config: AppConfig): string[] {
  if (config.defences.rateLimit.limit === 0) return [];
  const named = buildAcl(config.defences.trunkSources.map((t) => parseTrunkSource(t).cidr));
  return config.trunk.inboundAllow.filter((entry) => !isTrunkSource(named, entry.split('/')[0] ?? ''));
}

/** Edge refusals are logged at most once per source per this long (a flood must not become a log flood). */
const EDGE_LOG_EVERY_MS = 60_000;

/**
 * One CallSession per INVITE, tracked for draining. The edge gate runs first: an INVITE it
 * refuses costs a response and a counter, and no CallSession, CDR or Redis command.
 */
export function createInviteHandler(deps: CallDeps, registry: CallRegistry): InviteHandler {
  const logged = new Map<string, number>();
  return (call) => {
    const now = deps.now();
    const verdict = deps.gate.check(call.info, now);
    deps.metrics.sipBannedSources.set(deps.gate.bannedSources);
    if (!verdict.pass) {
      call.reject(verdict.status, verdict.phrase);
      deps.metrics.sipRejectedSources.inc({ reason: verdict.reason });
      const source = call.info.sourceAddress;
      if (verdict.banStarted) {
        deps.log.warn({ source, reason: verdict.reason }, 'source over the INVITE rate limit: banned (defences.rateLimit)');
      } else if ((logged.get(source) ?? -Infinity) <= now - EDGE_LOG_EVERY_MS) {
        if (logged.size >= 1024) logged.clear();
        logged.set(source, now);
        deps.log.info({ source, reason: verdict.reason, status: verdict.status }, 'INVITE refused at the edge (logged once a minute per source)');
      }
      return;
    }
    const session = new CallSession(call, deps);
    registry.track(session);
    void session.run();
  };
}
