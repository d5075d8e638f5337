/**
 * A diagnostic for bench/sipp-load.ts (BENCH_WIRE_TRACE=1): where an INVITE's time goes inside a
 * B2BUA process. It watches the process's TCP sockets (drachtio's wire protocol and Redis's RESP)
 * and times, for each INVITE from the network:
 *
 *   in       drachtio's message carrying the INVITE is handed to node ('data')
 *   store    the first Redis command written after it (none for the bare B2BUA)
 *   reply    the first data back on that Redis socket
 *   out      the outbound INVITE written to drachtio
 *
 * Only INVITEs that had the process to themselves are kept: when another INVITE arrives before the
 * outbound one is written, the first is dropped, so at high rates the sample leans to calm moments.
 * Bench code only: it patches net.Socket's prototype.
 */
import net from 'node:net';
import { percentile } from './report.js';

type SocketKind = 'drachtio' | 'redis';

interface Pending {
  in: number;
  store?: number;
  storeSocket?: object;
  reply?: number;
}

export interface WireSample {
  inToOut: number;
  /** Absent when no Redis command was written on the way. */
  inToStore?: number;
  storeToReply?: number;
  replyToOut?: number;
}

/** The network INVITE at the head of a drachtio wire message: "<len>#<id>|sip|network|...\r\nINVITE sip:..." */
const NETWORK_INVITE = /\|sip\|network\|[^\r\n]*\r\nINVITE /;
/** A request maskbridge or drachtio-srf sends: "<len>#<id>|sip|...\r\nINVITE sip:..." */
const OUTBOUND_INVITE = /^\d+#[^\r\n]*\|sip\|[^\r\n]*\r\nINVITE /;

/** The state machine, fed with socket events; kept apart from the patching so it can be tested. */
export class WireTracer {
  private pending: Pending | null = null;
  samples: WireSample[] = [];

  onData(socket: object, kind: SocketKind | undefined, text: string, t: number): void {
    if (kind === 'redis') {
      if (this.pending?.store !== undefined && this.pending.reply === undefined && socket === this.pending.storeSocket) this.pending.reply = t;
      return;
    }
    if (NETWORK_INVITE.test(text)) this.pending = { in: t }; // a pending one is dropped: it overlapped
  }

  onWrite(socket: object, kind: SocketKind | undefined, text: string, t: number): void {
    const p = this.pending;
    if (!p) return;
    if (kind === 'redis') {
      if (p.store === undefined) {
        p.store = t;
        p.storeSocket = socket;
      }
      return;
    }
    if (kind !== 'drachtio' || !OUTBOUND_INVITE.test(text)) return;
    this.pending = null;
    const sample: WireSample = { inToOut: t - p.in };
    if (p.store !== undefined && p.reply !== undefined) {
      sample.inToStore = p.store - p.in;
      sample.storeToReply = p.reply - p.store;
      sample.replyToOut = t - p.reply;
    }
    this.samples.push(sample);
  }

  reset(): void {
    this.pending = null;
    this.samples = [];
  }

  /** p50 and p90 of each segment in µs, and the sample count, as flat keys for the child's STATS line. */
  summary(): Record<string, number> {
    const out: Record<string, number> = { traceSamples: this.samples.length };
    for (const key of ['inToOut', 'inToStore', 'storeToReply', 'replyToOut'] as const) {
      const values = this.samples.map((s) => s[key]).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
      if (values.length === 0) continue;
      out[`${key}P50`] = percentile(values, 50);
      out[`${key}P90`] = percentile(values, 90);
    }
    return out;
  }
}

/** Which protocol a socket speaks, from the first bytes written to it. */
export function kindOfWrite(text: string): SocketKind | undefined {
  if (/^\d+#/.test(text)) return 'drachtio';
  if (text.startsWith('*')) return 'redis';
  return undefined;
}

const KIND = Symbol('wire-trace kind');
type Tagged = net.Socket & { [KIND]?: SocketKind };

const head = (chunk: unknown, n: number): string =>
  typeof chunk === 'string' ? chunk.slice(0, n) : Buffer.isBuffer(chunk) ? chunk.toString('latin1', 0, Math.min(chunk.length, n)) : '';

/** Patches net.Socket so every socket of this process feeds a tracer; SIGUSR2 clears the samples. */
export function installWireTrace(): WireTracer {
  const tracer = new WireTracer();
  const now = (): number => Number(process.hrtime.bigint()) / 1000;
  const proto = net.Socket.prototype as Tagged;
  const emit = proto.emit;
  const write = proto.write;
  proto.emit = function (this: Tagged, event: string | symbol, ...args: unknown[]) {
    if (event === 'data') {
      const text = head(args[0], 600);
      if (!this[KIND] && text.includes('|sip|')) this[KIND] = 'drachtio';
      tracer.onData(this, this[KIND], text, now());
    }
    return (emit as (...a: unknown[]) => boolean).apply(this, [event, ...args]);
  } as typeof proto.emit;
  proto.write = function (this: Tagged, ...args: unknown[]) {
    const text = head(args[0], 300);
    this[KIND] ??= kindOfWrite(text);
    tracer.onWrite(this, this[KIND], text, now());
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof proto.write;
  process.on('SIGUSR2', () => tracer.reset());
  return tracer;
}
