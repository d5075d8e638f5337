import type { AppConfig } from '../config/types.js';
import { buildAcl } from '../sip/identify.js';
import type { InviteHandler } from '../sip/port.js';
import { CallSession, type CallDeps, type CallPolicy } from './call-session.js';
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

/** One CallSession per INVITE, tracked for draining. */
export function createInviteHandler(deps: CallDeps, registry: CallRegistry): InviteHandler {
  return (call) => {
    const session = new CallSession(call, deps);
    registry.track(session);
    void session.run();
  };
}
