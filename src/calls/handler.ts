import type { BlockList } from 'node:net';
import type { AppConfig } from '../config/types.js';
import { buildAcl, isTrunkSource } from '../sip/identify.js';
import type { InviteHandler } from '../sip/port.js';
import type { MediaPool } from '../media/port.js';
import { numberFormatter } from '../log/logger.js';
import { meteredCdrSink } from '../metrics/cdr-metrics.js';
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
  parts: Pick<CallDeps, 'sip' | 'sessions' | 'cdr' | 'metrics' | 'log' | 'isDraining'> & Partial<Pick<CallDeps, 'liveCalls'>> & { pool?: MediaPool | null; callIdKey: string | Buffer; now?: () => number },
): CallDeps {
  return {
    sip: parts.sip,
    sessions: parts.sessions,
    // Recording failures and media quality are counted from the CDRs as they are written.
    cdr: meteredCdrSink(parts.cdr, parts.metrics),
    metrics: parts.metrics,
    log: parts.log,
    isDraining: parts.isDraining,
    ...(parts.liveCalls ? { liveCalls: parts.liveCalls } : {}),
    fmt: numberFormatter(config.log.redactNumbers),
    callIdHash: callIdHasher(parts.callIdKey),
    policy: callPolicyFromConfig(config),
    media: mediaSettingsFromConfig(config, parts.pool ?? null),
    now: parts.now ?? Date.now,
  };
}

/** One CallSession per INVITE, tracked for draining. */
export function createInviteHandler(deps: CallDeps, registry: CallRegistry): InviteHandler {
  return (call) => {
    const session = new CallSession(call, deps);
    registry.track(session);
    void session.run();
  };
}
