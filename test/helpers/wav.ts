/** Builds 16-bit PCM WAV files for tests: fake recordings, announcements. */
export function encodeWav(channels: Int16Array[], sampleRate = 8000): Buffer {
  const frames = channels[0]?.length ?? 0;
  const dataBytes = frames * channels.length * 2;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(channels.length, 22);
  b.writeUInt32LE(sampleRate, 24);
  b.writeUInt32LE(sampleRate * channels.length * 2, 28);
  b.writeUInt16LE(channels.length * 2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(dataBytes, 40);
  for (let f = 0; f < frames; f++) {
    channels.forEach((ch, c) => b.writeInt16LE(ch[f] as number, 44 + (f * channels.length + c) * 2));
  }
  return b;
}

/** A sine tone of `seconds` at `hz`. */
export function tone(hz: number, seconds: number, amplitude = 12000, sampleRate = 8000): Int16Array {
  const out = new Int16Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / sampleRate));
  return out;
}
