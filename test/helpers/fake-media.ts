/** A fake of the project's own media port (src/media/port.ts), recording what the app asks of it. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeWav } from './wav.js';
import { MediaError, type MediaEndpoint, type MediaPool, type MediaServer, type RtpQuality } from '../../src/media/port.js';

/** A valid stereo 8 kHz 16-bit WAV of `seconds` (silence). */
export function wavBytes(seconds: number): Buffer {
  const frames = Math.round(seconds * 8000);
  return encodeWav([new Int16Array(frames), new Int16Array(frames)]);
}

export class FakeEndpoint implements MediaEndpoint {
  released = 0;
  readonly localSdp: string;
  readonly modifies: string[] = [];
  private endedCbs: Array<(cause: string) => void> = [];

  /** The SIP dialog to the media server (MediaEndpoint#dialogId). */
  get dialogId(): string {
    return `fs-${this.id};dialog`;
  }

  constructor(readonly id: string, readonly remoteSdp: string | undefined, private readonly server: FakeMediaServer) {
    this.localSdp = `v=0\r\no=FreeSWITCH 1 1 IN IP4 127.0.0.50\r\ns=FreeSWITCH\r\nc=IN IP4 127.0.0.50\r\nt=0 0\r\nm=audio ${20000 + Number(id.replace(/\D/g, ''))} RTP/AVP 0\r\n`;
  }

  private op(what: string): void {
    this.server.ops.push(`${what} ${this.id}`);
  }
  async play(file: string): Promise<void> {
    this.op(`play:${file}`);
    if (this.server.failPlayback) throw new MediaError('File Not Found');
  }
  startLoop(file: string): void {
    this.op(`loop:${file}`);
  }
  async stopPlayback(): Promise<void> {
    this.op('stop-playback');
  }
  async collectDigits(opts: { prompt: string }): Promise<string> {
    this.op(`collect:${opts.prompt}`);
    if (this.server.digits.length === 0 && this.server.holdDigits) {
      // The caller is still thinking: the prompt ends only when the channel goes.
      return new Promise((_, reject) => (this.pending = reject));
    }
    return this.server.digits.shift() ?? '';
  }
  private pending: ((err: Error) => void) | null = null;
  async modify(remoteSdp: string): Promise<string> {
    this.modifies.push(remoteSdp);
    this.op('modify');
    if (this.server.failModify) throw new MediaError('Sip non-success response: 503');
    return this.localSdp;
  }
  async bridge(other: MediaEndpoint): Promise<void> {
    this.op(`bridge:${other.id}`);
  }
  async startRecording(path: string, opts: { writerThread: boolean }): Promise<void> {
    this.op(opts.writerThread ? 'record-start:writer-thread' : 'record-start');
    if (this.server.failRecording) throw new MediaError(`recording did not start: -ERR cannot open ${path}`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, wavBytes(this.server.recordedSeconds));
  }
  async stopRecording(): Promise<void> {
    await this.unanswered();
    this.op('record-stop');
  }
  onEnded(cb: (cause: string) => void): void {
    this.endedCbs.push(cb);
  }
  async rtpStats(): Promise<RtpQuality | null> {
    this.op('rtp-stats');
    await this.unanswered();
    return this.server.rtpStats[this.id] ?? null;
  }
  async release(): Promise<void> {
    this.pending?.(new MediaError('channel released'));
    this.released++;
    this.op('release');
    await this.unanswered();
  }
  /** FreeSWITCH drops the channel. */
  drop(): void {
    this.dropped = true;
    for (const cb of this.endedCbs) cb('NORMAL_CLEARING');
  }
  private dropped = false;
  /**
   * Never settles while the server is stalled, or for a dropped channel when dropped channels
   * go unanswered (as drachtio-fsmrf's commands on a channel whose event socket closed do).
   */
  private unanswered(): Promise<void> {
    if (this.server.stalled || (this.dropped && this.server.droppedChannelsHang)) return new Promise<void>(() => undefined);
    return Promise.resolve();
  }
}

export class FakeMediaServer implements MediaServer {
  readonly endpoints: FakeEndpoint[] = [];
  readonly ops: string[] = [];
  healthy = true;
  /** The server stops answering (SIGSTOP): releases and recording stops never settle. */
  stalled = false;
  /** Commands on a channel the server dropped never settle. */
  droppedChannelsHang = false;
  failRecording = false;
  failPlayback = false;
  /** The server refuses the callee's SDP (it died as the callee answered: drachtio-server's 503). */
  failModify = false;
  recordedSeconds = 1;
  /** What each channel (by id: ep1, ep2, ...) says it received; none: no statistics. */
  rtpStats: Record<string, RtpQuality> = {};
  /** Digits the caller will key, one entry per prompt ('' = timeout). */
  digits: string[] = [];
  /** When out of digits, keep the prompt waiting instead of timing out. */
  holdDigits = false;
  /** Channel numbers (1 = the first requested) whose creation fails. */
  failCreate = new Set<number>();
  private requested = 0;

  constructor(readonly name = 'fs1') {}

  async createEndpoint(remoteSdp?: string): Promise<MediaEndpoint> {
    if (this.failCreate.has(++this.requested)) {
      this.ops.push(`create failed #${this.requested}`);
      throw new MediaError(`cannot create a channel on ${this.name}: -ERR`);
    }
    const ep = new FakeEndpoint(`ep${this.endpoints.length + 1}`, remoteSdp, this);
    this.endpoints.push(ep);
    this.ops.push(`create ${ep.id}${remoteSdp ? ' answering' : ' offering'}`);
    return ep;
  }

  /** Every channel handed out has been released exactly once. */
  get allReleasedOnce(): boolean {
    return this.endpoints.length > 0 && this.endpoints.every((e) => e.released === 1);
  }
}

export class FakeMediaPool implements MediaPool {
  constructor(readonly servers: FakeMediaServer[]) {}
  pick(exclude?: ReadonlySet<MediaServer>): MediaServer | null {
    return this.servers.find((s) => s.healthy && !exclude?.has(s)) ?? null;
  }
}
