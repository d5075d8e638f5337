/** What a call needs from the rest of the app (built once, in src/calls/handler.ts, from config and the composition root). */
import type { BlockList } from 'node:net';
import type { CdrSink } from '../cdr/cdr.js';
import type { Logger, NumberFormatter } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CallHooks } from '../hooks/hooks.js';
import type { DecisionPolicy } from '../policy/decide.js';
import type { SessionLookup } from '../sessions/store.js';
import type { IdentifyOptions } from '../sip/identify.js';
import type { SourceGate } from '../sip/defences.js';
import type { GatewayPool } from '../sip/gateways.js';
import type { SipPort } from '../sip/port.js';
import type { OutboundTarget } from '../sip/scrub.js';
import type { CallEvents } from './call-events.js';
import type { MediaSettings } from './call-media.js';
import type { CallIdHasher } from './call-id.js';
import type { LiveCallSink } from './live-calls.js';

export interface CallPolicy {
  acl: BlockList;
  identify: IdentifyOptions;
  decision: DecisionPolicy;
  outbound: Omit<OutboundTarget, 'virtualNumber' | 'peer'>;
  ringTimeoutMs: number;
  /** 0 = unlimited. */
  maxDurationMs: number;
  /** Fleet-wide concurrent-call limits, checked after the lookup (0 = none). */
  concurrency: { perSession: number; perNumber: number; status: number };
}

export interface CallDeps {
  sip: SipPort;
  sessions: SessionLookup;
  cdr: CdrSink;
  metrics: Metrics;
  log: Logger;
  fmt: NumberFormatter;
  /** The id a call is known by in logs, CDRs and file names (src/calls/call-id.ts). */
  callIdHash: CallIdHasher;
  policy: CallPolicy;
  media: MediaSettings | null;
  now: () => number;
  /** True while the app drains for shutdown: new calls get 503. */
  isDraining: () => boolean;
  /** The outbound gateways, healthy first (src/sip/gateways.ts). */
  gateways: GatewayPool;
  /** The edge checks every INVITE passes before a CallSession exists (src/sip/defences.ts). */
  gate: SourceGate;
  /** Webhook events of calls (src/calls/call-events.ts); absent when webhooks are off. */
  callEvents?: CallEvents;
  /** The live-call registry in Redis (src/calls/live-calls.ts), told when a call connects and ends. */
  liveCalls?: LiveCallSink;
  /** The real-time hooks that are configured (src/hooks/): intercept before a B-leg, out-of-session for a caller with none. */
  hooks?: CallHooks;
}

