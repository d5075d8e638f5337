/**
 * The media port: what the call logic needs from a media server (FreeSWITCH behind
 * drachtio-fsmrf). src/media/fsmrf.ts implements it; test/helpers/fake-media.ts fakes it.
 */

/** What a media server received from one party over a call (src/media/quality.ts). */
export interface RtpQuality {
  /** Share of the expected RTP packets that did not arrive in time (0 to 1). */
  lossRatio: number;
  /** Inter-arrival jitter, milliseconds. */
  jitterMs: number;
  /** The media server's estimated mean opinion score, 1 (bad) to 5 (excellent). */
  mos: number;
}

/** One FreeSWITCH channel the app drives. */
export interface MediaEndpoint {
  readonly id: string;
  /** The SIP server's id of the channel's dialog (as CallLeg#dialogId), when known. */
  readonly dialogId?: string;
  /** The media server's SDP for this channel (its address, never a party's). */
  readonly localSdp: string;
  /** Plays a file or tone stream; resolves when done, rejects when it cannot be played. */
  play(file: string): Promise<void>;
  /** Starts a looping tone/file without waiting (ringback); stopped by stopPlayback(). */
  startLoop(file: string): void;
  stopPlayback(): Promise<void>;
  /** Plays `prompt` and collects up to `maxDigits` DTMF digits ('' on timeout). */
  collectDigits(opts: { prompt: string; maxDigits: number; timeoutMs: number }): Promise<string>;
  /** Gives the channel the party's (new) SDP; resolves with the channel's answer. */
  modify(remoteSdp: string): Promise<string>;
  bridge(other: MediaEndpoint): Promise<void>;
  /**
   * Starts a stereo recording of this channel: what it receives on one channel, what it sends on
   * the other. `writerThread`: the media server writes it from a thread of its own.
   */
  startRecording(path: string, opts: { writerThread: boolean }): Promise<void>;
  stopRecording(path: string): Promise<void>;
  /** Called once if the media server drops the channel, with FreeSWITCH's hangup cause when it gave one. */
  onEnded(cb: (cause: string) => void): void;
  /**
   * The channel's RTP statistics so far (what it received from its party); null when it has
   * none (no media arrived). Asked before release(); optional (a port may have no statistics).
   */
  rtpStats?(): Promise<RtpQuality | null>;
  /** Hangs the channel up. Idempotent; never rejects. */
  release(): Promise<void>;
}

export interface MediaServer {
  readonly name: string;
  /** With the party's SDP: the channel answers it. Without: the channel makes an offer (localSdp). */
  createEndpoint(remoteSdp?: string): Promise<MediaEndpoint>;
}

export interface MediaPool {
  /** The least-loaded healthy server, or null when none is healthy. */
  pick(): MediaServer | null;
}

export class MediaError extends Error {
  override readonly name = 'MediaError';
}
