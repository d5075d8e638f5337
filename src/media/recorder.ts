/**
 * One call's recording: started on the caller's channel (stereo: what the caller says, what the
 * caller hears), stopped before the channels go, then renamed into place. Failures are kept and
 * reported in the CDR; they never end the call.
 */
import type { Cdr } from '../cdr/cdr.js';
import type { Logger, NumberFormatter } from '../log/logger.js';
import type { MediaEndpoint } from './port.js';
import { ensureDir, finalizeRecording, recordingPaths, type RecordingPaths } from './recording.js';

export class CallRecorder {
  private readonly paths: RecordingPaths;
  private readonly settleMs: number;
  private readonly writerThread: boolean;
  /** Media-server messages may quote anything: they are logged through this. (Paths hold only the session id and the keyed Call-ID hash, and are logged as they are.) */
  private readonly fmt: NumberFormatter;
  private error: string | null = null;

  constructor(
    readonly endpoint: MediaEndpoint,
    opts: { dir: string; at: Date; sessionId: string; callId: string; settleMs: number; writerThread: boolean; fmt: NumberFormatter },
    private readonly log: Logger,
  ) {
    this.paths = recordingPaths(opts.dir, opts.at, opts.sessionId, opts.callId);
    this.settleMs = opts.settleMs;
    this.writerThread = opts.writerThread;
    this.fmt = opts.fmt;
  }

  /** Starts recording; on failure logs, remembers the error, and resolves anyway. */
  async start(): Promise<void> {
    ensureDir(this.paths);
    try {
      await this.endpoint.startRecording(this.paths.partial, { writerThread: this.writerThread });
      this.log.debug({ path: this.paths.partial }, 'recording started');
    } catch (err) {
      this.error = (err as Error).message;
      this.log.error({ err: this.fmt(this.error) }, 'recording failed to start; the call goes on unrecorded');
    }
  }

  /** Tells the media server to close the file; call before the channel is released. */
  async stop(): Promise<void> {
    if (!this.error) await this.endpoint.stopRecording(this.paths.partial).catch(() => undefined);
  }

  /** After the channels are gone: waits for the file, renames it into place, and describes it for the CDR. */
  /** `timeoutMs`: how long to wait for the media server to close the file. */
  async finish(timeoutMs?: number): Promise<NonNullable<Cdr['recording']>> {
    if (this.error) return { path: '', durationSec: 0, bytes: 0, failed: true, error: this.error };
    try {
      const info = await finalizeRecording(this.paths, { settleMs: this.settleMs, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
      this.log.info({ path: info.path, durationSec: info.durationSec }, 'recording saved');
      return { path: info.path, durationSec: Math.round(info.durationSec * 10) / 10, bytes: info.bytes, failed: false };
    } catch (err) {
      this.log.error({ err: this.fmt((err as Error).message), path: this.paths.partial }, 'recording failed');
      return { path: this.paths.partial, durationSec: 0, bytes: 0, failed: true, error: (err as Error).message };
    }
  }
}
