/** What a call needs from the rest of the app (built once, in src/calls/handler.ts, from config and the composition root). */
import type { BlockList } from 'node:net';
import type { CdrSink } from '../cdr/cdr.js';
import type { EventSink } from '../events/events.js';
import type { Logger, NumberFormatter } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DecisionPolicy } from '../policy/decide.js';
import type { SessionLookup } from '../sessions/store.js';
import type { IdentifyOptions } from '../sip/identify.js';
import type { SipPort } from '../sip/port.js';
import type { OutboundTarget } from '../sip/scrub.js';
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
  /** The live-call registry in Redis (src/calls/live-calls.ts), told when a call connects and ends. */
  liveCalls?: LiveCallSink;
  /** Webhook events (src/events): publish() is synchronous and never waits on Redis. Absent: none published. */
  events?: EventSink;
}

