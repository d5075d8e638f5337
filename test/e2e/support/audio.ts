/** Small audio helpers for the media end-to-end checks: make a tone WAV, read and measure a WAV. */
import { readFileSync, writeFileSync } from 'node:fs';

/** Writes a mono 8 kHz 16-bit PCM WAV holding a sine tone. */
export function writeToneWav(path: string, hz: number, seconds: number, amplitude = 12000): void {
  const n = Math.round(seconds * 8000);
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / 8000)), 44 + i * 2);
  writeFileSync(path, b);
}

export interface Pcm {
  sampleRate: number;
  channels: Int16Array[];
}

/** Reads a 16-bit PCM WAV into per-channel sample arrays. */
export function readWav(path: string): Pcm {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF') throw new Error('not a WAV');
  let off = 12;
  let channels = 0;
  let sampleRate = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      sampleRate = b.readUInt32LE(off + 12);
    } else if (id === 'data') {
      const frames = Math.floor(Math.min(size, b.length - off - 8) / (2 * channels));
      const out = Array.from({ length: channels }, () => new Int16Array(frames));
      for (let f = 0; f < frames; f++) for (let c = 0; c < channels; c++) out[c]![f] = b.readInt16LE(off + 8 + (f * channels + c) * 2);
      return { sampleRate, channels: out };
    }
    off += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
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
