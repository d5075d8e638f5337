/**
 * Are the recordings of a load run complete? For bench/media-load.ts. One answered CDR should
 * have one recording that: is not flagged failed in the CDR, exists as the final .wav with no
 * .partial.wav beside it, is stereo, lasts the CDR's talk time within 1 s, and has audio on both
 * channels: each party's tone on its own channel (caller left, callee right) in most of the call.
 * Gaps (seconds without the tone, silent 20 ms frames) are measured and reported separately.
 * Uses the e2e suite's WAV reader and Goertzel measure (test/e2e/support/audio.ts).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readWav, rms, toneShare, type Pcm } from '../../test/e2e/support/audio.js';

export interface Tones {
  /** Hz the caller sends (expected on the first channel). */
  caller: number;
  /** Hz the callee sends (expected on the second channel). */
  callee: number;
}

export interface RecordingReport {
  /** Answered CDRs: each should have a complete recording. */
  answered: number;
  /** Recordings that passed every check. */
  complete: number;
  /** Why the others did not (first failed check), with counts. */
  problems: Record<string, number>;
  /** *.partial.wav files anywhere under the recordings directory. */
  partialLeft: number;
  /** Largest |WAV duration - CDR talk time|, s, over the readable recordings. */
  maxDriftSec: number;
  /** Lowest share of 1 s windows in which a channel carried its party's tone (over recordings and channels). */
  minToneWindows: number;
  /** Readable recordings with at least one 1 s window without the party's tone on a channel. */
  withGaps: number;
  /** 20 ms frames that were silent on a channel, over all readable recordings (0..1), and in the worst one. */
  silentFrames: number;
  worstSilentFrames: number;
}

/** A 1 s window counts as "carrying the tone" when loud enough and the tone dominates. */
const MIN_RMS = 500;
const MIN_TONE_SHARE = 0.5;
/** A channel has its party's audio when most of its windows carry the tone. */
const MIN_GOOD_WINDOWS = 0.5;
/** A 20 ms frame this quiet is a gap (the tones are sent at amplitude 10,000). */
const SILENT_RMS = 100;

function countPartials(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += countPartials(join(dir, entry.name));
    else if (entry.name.endsWith('.partial.wav')) n++;
  }
  return n;
}

interface ChannelAudio {
  goodWindows: number;
  silentFrames: number;
  frames: number;
}

/**
 * Windows of 1 s from 1 s after the start to 0.5 s before the end (the parties' RTP starts after
 * the answer); a recording too short for that gets proportionally shorter margins and windows.
 */
function channelAudio(samples: Int16Array, rate: number, hz: number): ChannelAudio {
  const from = Math.round(Math.min(rate, samples.length * 0.2));
  const to = samples.length - Math.round(Math.min(rate / 2, samples.length * 0.1));
  const size = Math.min(rate, to - from);
  let windows = 0;
  let good = 0;
  for (let w = from; size >= rate / 5 && w + size <= to; w += size) {
    windows++;
    if (rms(samples, w, w + size) > MIN_RMS && toneShare(samples, rate, hz, w, w + size) > MIN_TONE_SHARE) good++;
  }
  const frame = Math.round(rate / 50);
  let frames = 0;
  let silent = 0;
  for (let f = from; f + frame <= to; f += frame) {
    frames++;
    if (rms(samples, f, f + frame) < SILENT_RMS) silent++;
  }
  return { goodWindows: windows ? good / windows : 0, silentFrames: silent, frames };
}

export function checkRecordings(cdrs: Array<Record<string, string>>, recordingsDir: string, tones: Tones): RecordingReport {
  const out: RecordingReport = {
    answered: 0, complete: 0, problems: {}, partialLeft: countPartials(recordingsDir),
    maxDriftSec: 0, minToneWindows: 1, withGaps: 0, silentFrames: 0, worstSilentFrames: 0,
  };
  let silent = 0;
  let frames = 0;
  const fail = (why: string) => (out.problems[why] = (out.problems[why] ?? 0) + 1);
  for (const cdr of cdrs) {
    if (cdr.disposition !== 'answered') continue;
    out.answered++;
    const path = cdr.recording_path ?? '';
    if (cdr.recording_failed !== '0') {
      fail(`CDR: recording failed${cdr.recording_error ? ` (${cdr.recording_error})` : ''}`);
      continue;
    }
    if (!path.endsWith('.wav') || !existsSync(path)) {
      fail('no final .wav');
      continue;
    }
    if (existsSync(path.replace(/\.wav$/, '.partial.wav'))) {
      fail('.partial.wav left beside it');
      continue;
    }
    let wav: Pcm;
    try {
      wav = readWav(path);
    } catch (err) {
      fail(`unreadable: ${(err as Error).message}`);
      continue;
    }
    const [left, right] = wav.channels;
    if (wav.channels.length !== 2 || !left || !right) {
      fail(`${wav.channels.length} channel(s)`);
      continue;
    }
    const seconds = left.length / wav.sampleRate;
    const talk = (Date.parse(cdr.ended_at ?? '') - Date.parse(cdr.answered_at ?? '')) / 1000;
    const drift = Math.abs(seconds - talk);
    out.maxDriftSec = Math.max(out.maxDriftSec, Number.isFinite(drift) ? drift : Infinity);
    const a = channelAudio(left, wav.sampleRate, tones.caller);
    const b = channelAudio(right, wav.sampleRate, tones.callee);
    out.minToneWindows = Math.min(out.minToneWindows, a.goodWindows, b.goodWindows);
    if (a.goodWindows < 1 || b.goodWindows < 1) out.withGaps++;
    silent += a.silentFrames + b.silentFrames;
    frames += a.frames + b.frames;
    if (a.frames + b.frames > 0) out.worstSilentFrames = Math.max(out.worstSilentFrames, (a.silentFrames + b.silentFrames) / (a.frames + b.frames));
    if (!(drift < 1)) fail('duration not within 1 s of talk time');
    else if (a.goodWindows < MIN_GOOD_WINDOWS) fail('caller channel lacks the caller tone');
    else if (b.goodWindows < MIN_GOOD_WINDOWS) fail('callee channel lacks the callee tone');
    else out.complete++;
  }
  out.silentFrames = frames ? silent / frames : 0;
  if (out.answered === 0) out.minToneWindows = Number.NaN;
  return out;
}
