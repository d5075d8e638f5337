/**
 * The drachtio-fsmrf implementation of the media port: a pool of FreeSWITCH servers, each
 * (re)connected with backoff and tracked for health, and thin endpoint wrappers.
 */
import type { Socket } from 'node:net';
import type Srf from 'drachtio-srf';
import Mrf from 'drachtio-fsmrf';
import type { Logger } from '../log/logger.js';
import { pickLeastLoaded } from '../policy/media.js';
import { DeadlineError, withDeadline } from '../util/deadline.js';
import { MediaError, type MediaEndpoint, type MediaPool, type MediaServer, type RtpQuality } from './port.js';
import { parseChannelDump, rtpQualityFromVariables } from './quality.js';
import { bridgeUp, ReinviteGate, type ReinvitedDialog } from './reinvite-gate.js';
import { KEEP_ALIVE_DEFAULTS, ServerWatch } from './server-watch.js';

/**
 * Keep-alive of each media server's control connection (src/media/server-watch.ts): `api status`
 * every media.keepAliveMs, answered within media.keepAliveTimeoutMs (or media.commandTimeoutMs
 * when shorter), else the server is out of rotation until it answers; after media.deadAfterMs
 * without any answer its calls are ended (they have no media) and it is reconnected.
 * docs/operations.md, "Media server failure". These are the defaults.
 */
export const PING_MS = KEEP_ALIVE_DEFAULTS.keepAliveMs;
export const PING_TIMEOUT_MS = KEEP_ALIVE_DEFAULTS.keepAliveTimeoutMs;
export const DEAD_AFTER_MS = KEEP_ALIVE_DEFAULTS.deadAfterMs;

/** The longest FreeSWITCH's own re-INVITE waits for a bridge under way (src/media/reinvite-gate.ts), and the beat after its CHANNEL_BRIDGE. */
export const BRIDGE_UP_MAX_MS = 1000;

/** A pool's deadlines: media.commandTimeoutMs, media.keepAliveMs, media.keepAliveTimeoutMs, media.deadAfterMs. */
export interface FsPoolTimings {
  commandTimeoutMs: number;
  keepAliveMs: number;
  keepAliveTimeoutMs: number;
  deadAfterMs: number;
}
/** Longest wait for a (re)connection to a media server: a host that accepts TCP and never says hello cannot hold it. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Where FreeSWITCH connects back to this app (drachtio-fsmrf's outbound event socket). */
export interface EslListen {
  address: string;
  port: number;
  advertise: string;
}

export interface MediaServerAddress {
  host: string;
  port: number;
  secret: string;
}

/** Parses "host:port:secret" entries of media.servers; throws naming the bad entry. */
export function parseMediaServers(entries: string[]): MediaServerAddress[] {
  return entries.map((entry) => {
    const [host, port, ...rest] = entry.split(':');
    const secret = rest.join(':');
    if (!host || !port || !/^\d+$/.test(port) || !secret) throw new Error(`media.servers entry "${entry.replace(/:[^:]*$/, ':***')}" is not host:port:secret`);
    return { host, port: Number(port), secret };
  });
}

/**
 * drachtio-modesl writes each event-socket command in several small writes; with Nagle's
 * algorithm on, each later write waits for the peer's delayed ACK, about 40 ms per command
 * (measured: 40-65 ms per command, 150 ms added to every anchored call's INVITE-to-200).
 * Turn Nagle off on the inbound connection and on every outbound one FreeSWITCH opens.
 */
function disableNagle(ms: Mrf.MediaServer): void {
  ms.conn?.socket?.setNoDelay(true);
  ms._server?.server?.on('connection', (socket: Socket) => socket.setNoDelay(true));
}

/**
 * Longest playback the app waits for (an announcement, a consent prompt, a whisper): a media
 * server that stops answering mid-playback cannot hold a call for longer.
 */
export const PLAY_MAX_MS = 300_000;

class FsEndpoint implements MediaEndpoint {
  /** Answers FreeSWITCH's own re-INVITEs to this channel (null for a channel without a dialog). */
  readonly gate: ReinviteGate | null;
  private released = false;
  private endedCbs: Array<(cause: string) => void> = [];

  constructor(
    private readonly ep: Mrf.Endpoint,
    private readonly log: Logger,
    /** Bounds one command; a miss also tells the server (it may be stalled). */
    private readonly bounded: <T>(what: string, work: Promise<T>, ms?: number) => Promise<T>,
    private readonly onRelease: () => void,
  ) {
    // drachtio-fsmrf emits 'destroy' for two different things: FreeSWITCH hung the channel up
    // (CHANNEL_CALLSTATE HANGUP, with its Hangup-Cause), or the channel's outbound event socket
    // closed (esl::end, no cause) while the channel may still be up on FreeSWITCH. Say which, and
    // hang the second kind up over SIP: release() does nothing once this has run.
    ep.on('destroy', (evt?: { reason?: string }) => this.lose(evt?.reason ?? 'event socket closed', !evt?.reason));
    // FreeSWITCH's own re-INVITEs during a bridge wait for it to be up (src/media/reinvite-gate.ts).
    const dialog = ep.dialog as unknown as Partial<ReinvitedDialog> | undefined;
    this.gate = typeof dialog?.on === 'function' && dialog.local
      ? new ReinviteGate(dialog as ReinvitedDialog, BRIDGE_UP_MAX_MS, (err) => this.log.debug({ channel: ep.uuid, err: err.message }, 'media server re-INVITE not answered'))
      : null;
    try {
      ep.conn?.subscribe('CHANNEL_BRIDGE');
    } catch {
      // a connection already closed: 'destroy' says so
    }
  }

  /**
   * The channel is gone (FreeSWITCH hung it up, its event socket closed, or its server stopped
   * answering): tell the call once. `hangUp`: FreeSWITCH did not end it itself, so its SIP
   * dialog with drachtio is ended here (a BYE; nothing waits for the answer).
   */
  lose(cause: string, hangUp: boolean): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
    this.log.warn({ channel: this.ep.uuid, cause }, 'media server ended a channel');
    if (hangUp) void Promise.resolve().then(() => this.ep.dialog?.destroy()).catch(() => undefined);
    for (const cb of this.endedCbs) cb(cause);
  }

  get id(): string {
    return this.ep.uuid;
  }
  /** drachtio-server's id of the SIP dialog to FreeSWITCH (another instance can BYE it if this one dies). */
  get dialogId(): string | undefined {
    const id = (this.ep.dialog as { id?: unknown } | undefined)?.id; // Dialog#id, missing from drachtio-srf's typings
    return typeof id === 'string' && id !== '' ? id : undefined;
  }
  get localSdp(): string {
    return this.ep.local.sdp;
  }
  async play(file: string): Promise<void> {
    await this.bounded('play', this.ep.play(file), PLAY_MAX_MS);
  }
  startLoop(file: string): void {
    this.ep.executeAsync('playback', file);
  }
  async stopPlayback(): Promise<void> {
    await this.bounded('uuid_break', this.ep.api('uuid_break', `${this.ep.uuid} all`));
  }
  async collectDigits(opts: { prompt: string; maxDigits: number; timeoutMs: number }): Promise<string> {
    const r = await this.bounded('play_and_get_digits', this.ep.playCollect({
      file: opts.prompt, min: 1, max: opts.maxDigits, tries: 1, timeout: opts.timeoutMs, digitTimeout: 3000, terminators: '#',
    }), PLAY_MAX_MS + opts.timeoutMs);
    return r.digits ?? '';
  }
  async modify(remoteSdp: string): Promise<string> {
    // drachtio-server answers 503 for a server that is gone; FreeSWITCH may refuse the SDP itself.
    return this.bounded('modify', this.ep.modify(remoteSdp)).catch((err: Error) => {
      throw err instanceof MediaError ? err : new MediaError(`media server refused the SDP: ${err.message}`);
    });
  }
  async bridge(other: MediaEndpoint): Promise<void> {
    // Armed before uuid_bridge: FreeSWITCH sends its re-INVITE from inside that command.
    const up = this.ep.conn ? bridgeUp(this.ep.conn, this.ep.uuid, BRIDGE_UP_MAX_MS) : Promise.resolve();
    this.gate?.hold(up);
    if (other instanceof FsEndpoint) other.gate?.hold(up);
    await this.bounded('bridge', this.ep.bridge(other.id));
  }
  async startRecording(path: string, opts: { writerThread: boolean }): Promise<void> {
    // One api command. Stereo (caller left, callee right) and the writer thread go with it as
    // recording variables (uuid_record's fifth argument), not as a `set` executed on the channel
    // first: that was a second round trip, and it waits for the channel's own thread, which lags
    // under load. Without a writer thread (the default), frames are written from the media thread
    // (into the page cache), and FreeSWITCH has one thread less to wake 50 times a second.
    const vars = `{RECORD_STEREO=true,RECORD_USE_THREAD=${String(opts.writerThread)}}`;
    const evt = await this.bounded('uuid_record start', this.ep.api('uuid_record', `${this.ep.uuid} start ${path} 0 ${vars}`));
    const body = evt.getBody();
    if (!body.startsWith('+OK')) throw new MediaError(`recording did not start: ${body.trim()}`);
  }
  async stopRecording(path: string): Promise<void> {
    await this.bounded('uuid_record stop', this.ep.api('uuid_record', `${this.ep.uuid} stop ${path}`));
  }
  onEnded(cb: (cause: string) => void): void {
    this.endedCbs.push(cb);
  }
  /** Two commands: uuid_set_media_stats fills the rtp_audio_* variables, uuid_dump reads them (src/media/quality.ts). */
  async rtpStats(): Promise<RtpQuality | null> {
    if (this.released) return null;
    await this.bounded('uuid_set_media_stats', this.ep.api('uuid_set_media_stats', this.ep.uuid));
    const evt = await this.bounded('uuid_dump', this.ep.api('uuid_dump', `${this.ep.uuid} json`));
    return rtpQualityFromVariables(parseChannelDump(evt.getBody()));
  }
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.onRelease();
    // drachtio-fsmrf hangs the channel up over the event socket and waits for FreeSWITCH's BYE;
    // a server that dies meanwhile sends none, and the dialog would stay in drachtio-server for
    // good: past the deadline it is ended from here.
    const dialog = this.ep.dialog;
    try {
      await this.bounded('destroy', this.ep.destroy());
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'endpoint already gone, or the media server did not answer; ending its SIP dialog');
      endDialog(dialog);
    }
  }
}

/** A BYE in the SIP dialog to FreeSWITCH, answered or not (drachtio-server ends the dialog either way). */
function endDialog(dialog: Mrf.Endpoint['dialog'] | undefined): void {
  void Promise.resolve().then(() => dialog?.destroy()).catch(() => undefined);
}

/**
 * A channel that arrived after its creation was given up: nobody's. drachtio-fsmrf's destroy()
 * does nothing for an endpoint whose event socket already closed (its server died), so its SIP
 * dialog is ended here then.
 */
function hangUpLate(late: Mrf.Endpoint): void {
  const dialog = late.dialog;
  if (!late.connected) return endDialog(dialog);
  late.destroy().catch(() => endDialog(dialog));
}

/** One FreeSWITCH server: connection, health, and the endpoints this app holds on it. */
class FsServer implements MediaServer {
  ms: Mrf.MediaServer | null = null;
  active = 0;
  private watch: ServerWatch | null = null;
  /** The channels held on this server now (ended with the server when it dies). */
  private readonly endpoints = new Set<FsEndpoint>();
  /** Channel creations under way: rejected at once when the server goes away. */
  private readonly creating = new Set<(err: Error) => void>();
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly mrf: Pick<Mrf, 'connect'>,
    readonly addr: MediaServerAddress,
    private readonly listen: EslListen,
    private readonly log: Logger,
    private readonly timings: FsPoolTimings,
  ) {
    this.timeoutMs = timings.commandTimeoutMs;
  }

  /** media.commandTimeoutMs */
  private readonly timeoutMs: number;

  /** Connected, and answering its keep-alives and commands. */
  get healthy(): boolean {
    return this.ms !== null && this.watch !== null && this.watch.isHealthy;
  }

  /**
   * Bounds one command to this server. A server whose connection is up but which stops
   * answering (stalled, SIGSTOP, overloaded) is taken out of rotation at the first miss, and
   * back at its next answer (src/media/server-watch.ts).
   */
  readonly bounded = async <T>(what: string, work: Promise<T>, ms = this.timeoutMs): Promise<T> => {
    try {
      const value = await withDeadline(work, ms);
      this.watch?.answered();
      return value;
    } catch (err) {
      if (err instanceof DeadlineError && ms === this.timeoutMs) this.watch?.missed(what);
      if (err instanceof DeadlineError) throw new MediaError(`media server ${this.name} did not answer ${what} within ${ms} ms`);
      throw err;
    }
  };

  get name(): string {
    return `${this.addr.host}:${this.addr.port}`;
  }

  connect(): void {
    if (this.stopped) return;
    const connecting = this.mrf.connect({
      address: this.addr.host,
      port: this.addr.port,
      secret: this.addr.secret,
      listenAddress: this.listen.address,
      // Each server gets its own listener; a fixed port is only usable with one server.
      ...(this.listen.port ? { listenPort: this.listen.port } : {}),
      ...(this.listen.advertise ? { advertisedAddress: this.listen.advertise } : {}),
    });
    withDeadline(connecting, CONNECT_TIMEOUT_MS)
      .then((ms) => {
        if (this.stopped) return void ms.disconnect();
        disableNagle(ms);
        this.ms = ms;
        this.attempt = 0;
        this.watch = new ServerWatch(() => Promise.resolve().then(() => ms.api('status')), {
          pingMs: this.timings.keepAliveMs, pingTimeoutMs: Math.min(this.timings.keepAliveTimeoutMs, this.timeoutMs), deadAfterMs: this.timings.deadAfterMs,
        }, {
          down: (why) => this.log.error({ server: this.name, why }, 'media server did not answer in time; out of rotation until it answers again'),
          up: () => this.log.info({ server: this.name }, 'media server answers again'),
          dead: (silentMs) => this.dead(silentMs),
        });
        this.watch.start();
        this.log.info({ server: this.name }, 'media server connected');
        ms.on('error', (err) => this.log.warn({ server: this.name, err: err.message }, 'media server error'));
        ms.on('end', () => {
          if (this.ms === ms) this.lost('event socket closed');
        });
      })
      .catch((err: Error) => {
        // A connection that completes after its deadline is nobody's.
        connecting.then((late) => late.disconnect(), () => undefined);
        this.lost(err.message);
      });
  }

  /** Nothing answered for media.deadAfterMs: the calls here have no media. End them, and reconnect. */
  private dead(silentMs: number): void {
    this.log.error({ server: this.name, silentMs, calls: this.endpoints.size }, 'media server has not answered; ending its calls and reconnecting');
    for (const ep of [...this.endpoints]) ep.lose('media server not answering', true);
    this.lost(`no answer for ${silentMs} ms`);
  }

  private lost(why: string): void {
    const wasUp = this.healthy;
    if (wasUp || this.attempt === 0) this.log.error({ server: this.name, err: why, calls: this.endpoints.size }, 'media server unavailable; reconnecting');
    this.watch?.stop();
    this.watch = null;
    const gone = new MediaError(`media server ${this.name} went away (${why})`);
    for (const reject of [...this.creating]) reject(gone);
    try {
      this.ms?.disconnect();
    } catch {
      // already closed
    }
    this.ms = null;
    if (this.stopped || this.timer) return;
    const delay = Math.min(500 * 2 ** this.attempt++, 15_000);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
    this.timer.unref();
  }

  async createEndpoint(remoteSdp?: string): Promise<MediaEndpoint> {
    const ms = this.ms;
    if (!ms || !this.healthy) throw new MediaError(`media server ${this.name} is not connected`);
    this.active++;
    let ep: Mrf.Endpoint;
    const creating = ms.createEndpoint(remoteSdp ? { remoteSdp, codecs: ['PCMU', 'PCMA'] } : {});
    let abort!: (err: Error) => void;
    const aborted = new Promise<never>((_, reject) => (abort = reject));
    this.creating.add(abort);
    try {
      ep = await this.bounded('create channel', Promise.race([creating, aborted]));
    } catch (err) {
      this.active--;
      // A channel that arrives after the deadline (or after its server went away) is nobody's: hang it up.
      creating.then((late) => hangUpLate(late), () => undefined);
      throw new MediaError(`cannot create a channel on ${this.name}: ${(err as Error).message}`);
    } finally {
      this.creating.delete(abort);
    }
    let counted = true;
    const wrapped: FsEndpoint = new FsEndpoint(ep, this.log, this.bounded, () => {
      if (counted) this.active--;
      counted = false;
      this.endpoints.delete(wrapped);
    });
    this.endpoints.add(wrapped);
    return wrapped;
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    if (this.timer) clearTimeout(this.timer);
    try {
      this.ms?.disconnect();
    } catch {
      // already closed
    }
  }
}

export class FsMediaPool implements MediaPool {
  private readonly servers: FsServer[];

  /** `mrf`: drachtio-fsmrf over `srf` (tests give a fake with the same connect()). */
  constructor(srf: Srf, addresses: MediaServerAddress[], listen: EslListen, log: Logger, timings: FsPoolTimings, mrf: Pick<Mrf, 'connect'> = new Mrf(srf)) {
    this.servers = addresses.map((a, i) => new FsServer(mrf, a, { ...listen, port: listen.port ? listen.port + i : 0 }, log, timings));
  }

  start(): void {
    for (const s of this.servers) s.connect();
  }

  stop(): void {
    for (const s of this.servers) s.stop();
  }

  /** Least-loaded healthy server (src/policy/media.ts). */
  pick(exclude?: ReadonlySet<MediaServer>): MediaServer | null {
    const loads = this.servers.map((s) => ({
      server: s,
      healthy: s.healthy && !exclude?.has(s),
      active: s.active,
      currentSessions: s.ms?.currentSessions ?? 0,
      maxSessions: s.ms?.maxSessions ?? 0,
      cpuIdle: s.ms?.cpuIdle ?? 0,
    }));
    return pickLeastLoaded(loads)?.server ?? null;
  }

  health(): Array<{ server: string; healthy: boolean; active: number }> {
    return this.servers.map((s) => ({ server: s.name, healthy: s.healthy, active: s.active }));
  }
}
