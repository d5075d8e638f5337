/**
 * Recording files: where they go, and how a finished one is made visible atomically.
 * Layout: {dir}/{YYYY}/{MM}/{DD}/{sessionId}/{callId}.wav, written first as
 * {callId}.partial.wav and renamed once FreeSWITCH has closed it.
 */
import { mkdirSync, openSync, readSync, closeSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface RecordingPaths {
  /** Where FreeSWITCH writes while the call runs. */
  partial: string;
  /** Where the complete file ends up. */
  final: string;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120) || 'unknown';

export function recordingPaths(dir: string, at: Date, sessionId: string, callId: string): RecordingPaths {
  const y = String(at.getUTCFullYear());
  const m = String(at.getUTCMonth() + 1).padStart(2, '0');
  const d = String(at.getUTCDate()).padStart(2, '0');
  const base = join(dir, y, m, d, safe(sessionId), safe(callId));
  return { partial: `${base}.partial.wav`, final: `${base}.wav` };
}

/** Creates the directory when this process can see the recordings volume; FreeSWITCH also creates it. */
export function ensureDir(paths: RecordingPaths): void {
  try {
    mkdirSync(dirname(paths.final), { recursive: true });
  } catch {
    // not visible from here (remote media server): FreeSWITCH creates it
  }
}

export interface WavInfo {
  channels: number;
  sampleRate: number;
  durationSec: number;
  bytes: number;
}

export interface WavLayout {
  channels: number;
  sampleRate: number;
  byteRate: number;
  /** Where the samples start, and how many bytes of them there are (as far as the buffer goes). */
  dataOffset: number;
  dataBytes: number;
}

/**
 * Walks the RIFF chunks of a PCM WAV held in `head` (the file's first bytes). `fileBytes` is the
 * file's size: a file still being written has a placeholder data size, so the bytes on disk win.
 */
export function parseWavHeader(head: Buffer, fileBytes = head.length): WavLayout {
  if (head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let off = 12;
  let channels = 0;
  let sampleRate = 0;
  let byteRate = 0;
  while (off + 8 <= head.length) {
    const id = head.toString('ascii', off, off + 4);
    const size = head.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = head.readUInt16LE(off + 10);
      sampleRate = head.readUInt32LE(off + 12);
      byteRate = head.readUInt32LE(off + 16);
    } else if (id === 'data') {
      return { channels, sampleRate, byteRate, dataOffset: off + 8, dataBytes: Math.min(size, fileBytes - (off + 8)) };
    }
    off += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
}

/** Channels, rate and duration of a WAV file on disk. */
export function readWavInfo(path: string): WavInfo {
  const bytes = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(bytes, 4096));
    readSync(fd, head, 0, head.length, 0);
    const w = parseWavHeader(head, bytes);
    return { channels: w.channels, sampleRate: w.sampleRate, durationSec: w.byteRate ? w.dataBytes / w.byteRate : 0, bytes };
  } finally {
    closeSync(fd);
  }
}

/**
 * Waits until the partial file stops growing (FreeSWITCH has closed it), then renames it into
 * place. Returns the final path and what the file holds. Throws if there is no usable file.
 */
export async function finalizeRecording(paths: RecordingPaths, opts: { settleMs?: number; timeoutMs?: number } = {}): Promise<WavInfo & { path: string }> {
  const settle = opts.settleMs ?? 200;
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  let last = -1;
  for (;;) {
    let size = -1;
    try {
      size = statSync(paths.partial).size;
    } catch {
      // not there (yet)
    }
    if (size > 44 && size === last) break;
    if (Date.now() > deadline) throw new Error(size < 0 ? 'recording file was never written' : 'recording file did not settle');
    last = size;
    await new Promise((r) => setTimeout(r, settle));
  }
  renameSync(paths.partial, paths.final);
  return { ...readWavInfo(paths.final), path: paths.final };
}
