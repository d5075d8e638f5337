/** Small audio helpers for the media end-to-end checks: make a tone WAV, read and measure a WAV. */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseWavHeader } from '../../../src/media/recording.js';
import { encodeWav, tone } from '../../helpers/wav.js';

/** Writes a mono 8 kHz 16-bit PCM WAV holding a sine tone. */
export function writeToneWav(path: string, hz: number, seconds: number, amplitude = 12000): void {
  writeFileSync(path, encodeWav([tone(hz, seconds, amplitude)]));
}

export interface Pcm {
  sampleRate: number;
  channels: Int16Array[];
}

/** Reads a 16-bit PCM WAV into per-channel sample arrays. */
export function readWav(path: string): Pcm {
  const b = readFileSync(path);
  const w = parseWavHeader(b);
  const frames = Math.floor(w.dataBytes / (2 * w.channels));
  const out = Array.from({ length: w.channels }, () => new Int16Array(frames));
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < w.channels; c++) out[c]![f] = b.readInt16LE(w.dataOffset + (f * w.channels + c) * 2);
  }
  return { sampleRate: w.sampleRate, channels: out };
}

export function rms(samples: Int16Array, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (samples[i] as number) ** 2;
  return Math.sqrt(sum / Math.max(1, to - from));
}

/** Share of the window's energy at `hz` (Goertzel), 0..1. */
export function toneShare(samples: Int16Array, sampleRate: number, hz: number, from: number, to: number): number {
  const n = to - from;
  const k = Math.round((n * hz) / sampleRate);
  const w = (2 * Math.PI * k) / n;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = from; i < to; i++) {
    const x = samples[i] as number;
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x * x;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return energy === 0 ? 0 : (2 * power) / (n * energy);
}
