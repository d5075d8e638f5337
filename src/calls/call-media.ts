/**
 * The media side of one anchored call: the channels it holds on a media server, its recording,
 * and the steps between answer and bridge (record, consent, whisper, bridge). Its teardown is
 * bounded: a media server that stalls, or that dropped the channel it is asked about, cannot
 * keep a call from ending and writing its CDR.
 */
import type { Cdr } from '../cdr/cdr.js';
import type { CallLog } from '../log/call-log.js';
import type { NumberFormatter } from '../log/logger.js';
import type { MediaEndpoint, MediaPool, MediaServer } from '../media/port.js';
import { CallRecorder } from '../media/recorder.js';
import { withDeadline } from '../util/deadline.js';

/** Media anchoring settings; absent when media.mode is "none". */
export interface MediaSettings {
  pool: MediaPool;
  onNoMediaServer: 'reject' | 'signalling-only';
  ringback: string;
  recordingDir: string;
  consentAnnouncement: string;
  pin: { enabled: boolean; prompt: string; maxDigits: number; timeoutMs: number; tries: number };
  /** How long a recording file must stop growing before it counts as closed. */
  recordingSettleMs: number;
  /** media.recording.writerThread */
  recordingWriterThread: boolean;
  /** Longest wait for the media server during teardown (stop recording, release channels). */
  teardownTimeoutMs: number;
}

export interface MediaCallContext {
  media: MediaSettings;
  callLog: CallLog;
  fmt: NumberFormatter;
  isOver: () => boolean;
  /** The media server dropped a channel of this call. */
  onLost: (cause: string) => void;
}

export class CallMedia {
  private readonly endpoints: MediaEndpoint[] = [];
  private readonly lost = new Set<MediaEndpoint>();
  private recorder: CallRecorder | null = null;
  /** The caller's and the callee's channels, once bridged (their RTP statistics go in the CDR). */
  private bridged: { a: MediaEndpoint; b: MediaEndpoint } | null = null;

  constructor(private readonly ctx: MediaCallContext) {}

  /** Creates a tracked channel; null (and nothing held) when the call ended while it was made. Rejects when the server cannot. */
  async endpoint(server: MediaServer, remoteSdp?: string): Promise<MediaEndpoint | null> {
    const ep = await server.createEndpoint(remoteSdp);
    if (this.ctx.isOver()) {
      // Arrived after the teardown: release it here, not in release() as well.
      void ep.release();
      return null;
    }
    this.endpoints.push(ep);
    ep.onEnded((cause) => {
      this.lost.add(ep);
      this.ctx.onLost(cause);
    });
    return ep;
  }

  /** The SIP dialog ids of the channels held (for the live-call registry: a survivor can end them). */
  dialogIds(): string[] {
    return this.endpoints.flatMap((ep) => (ep.dialogId ? [ep.dialogId] : []));
  }

  /** Record (before anything is played, so the consent prompt is in it), consent, whisper, then bridge. */
  async start(epA: MediaEndpoint, epB: MediaEndpoint, opts: { record: boolean; whisper: string | undefined; consent?: string | undefined; at: Date; sessionId: string; callId: string }): Promise<void> {
    const { media, callLog, isOver } = this.ctx;
    if (opts.record) {
      this.recorder = new CallRecorder(epA, {
        dir: media.recordingDir, at: opts.at, sessionId: opts.sessionId, callId: opts.callId, settleMs: media.recordingSettleMs,
        writerThread: media.recordingWriterThread, fmt: this.ctx.fmt,
      }, callLog.logger);
      await this.recorder.start();
    }
    if (isOver()) return;
    // The session's own consent prompt, else the configured one ('none' in the session: no prompt).
    const consent = opts.consent === 'none' ? '' : opts.consent ?? media.consentAnnouncement;
    if (consent) {
      await Promise.all([epA.play(consent), epB.play(consent)])
        .catch((err: Error) => callLog.line('warn', 'consent announcement failed', () => ({ err: err.message })));
    }
    if (opts.whisper && !isOver()) {
      await epB.play(opts.whisper).catch((err: Error) => callLog.line('warn', 'whisper failed', () => ({ err: err.message })));
    }
    if (isOver()) return;
    await epA.bridge(epB);
    this.bridged = { a: epA, b: epB };
    callLog.line('debug', 'media bridged', () => ({ a: epA.id, b: epB.id }));
  }

  /**
   * Stops the recording and reads the bridged channels' RTP statistics (together), releases every
   * channel, and finalises the recording file. Never rejects, and waits at most
   * media.teardownTimeoutMs for each of its three steps (stop and statistics, release, the file closed).
   */
  async release(): Promise<Pick<Cdr, 'recording' | 'quality'>> {
    const { media, callLog } = this.ctx;
    const bounded = async (what: string, work: Promise<unknown>): Promise<void> => {
      try {
        await withDeadline(work, media.teardownTimeoutMs);
      } catch (err) {
        callLog.line('error', `media server did not answer in time (${what}); going on without it`, () => ({ err: (err as Error).message }));
      }
    };
    // A channel the server dropped cannot be asked to stop recording: its file is closed already.
    const recordingOn = this.recorder && !this.lost.has(this.recorder.endpoint);
    const quality: NonNullable<Cdr['quality']> = {};
    const reading = { open: true };
    await Promise.all([
      this.recorder && recordingOn ? bounded('stop recording', this.recorder.stop()) : undefined,
      this.bridged ? bounded('rtp statistics', this.readQuality(this.bridged, quality, reading)) : undefined,
    ]);
    reading.open = false; // an answer after the deadline changes nothing
    await bounded('release channels', Promise.all(this.endpoints.map((ep) => ep.release())));
    // The file is waited for no longer than the media server's other commands: a stalled server never closes it.
    const recording = this.recorder ? await this.recorder.finish(media.teardownTimeoutMs) : null;
    return { recording, quality: quality.a || quality.b ? quality : null };
  }

  /** Fills `into` leg by leg as answers come (a leg that has none by the deadline stays absent). */
  private async readQuality(legs: { a: MediaEndpoint; b: MediaEndpoint }, into: NonNullable<Cdr['quality']>, reading: { open: boolean }): Promise<void> {
    await Promise.all((['a', 'b'] as const).map(async (leg) => {
      const ep = legs[leg];
      if (this.lost.has(ep) || !ep.rtpStats) return;
      const q = await ep.rtpStats().catch((err: Error) => {
        this.ctx.callLog.line('debug', 'no RTP statistics for a channel', () => ({ leg, err: err.message }));
        return null;
      });
      if (q && reading.open) into[leg] = q;
    }));
  }
}
