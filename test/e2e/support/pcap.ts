/**
 * Writes a pcap of G.711 A-law RTP (20 ms packets) carrying a sine tone, for sipp's
 * play_pcap_audio. Each party sends its own frequency, so the recording's channels can be told apart.
 */
import { writeFileSync } from 'node:fs';

/** ITU-T G.711 A-law encoding of one 16-bit linear sample. */
export function linearToAlaw(sample: number): number {
  let pcm = sample >> 3; // 13-bit
  let mask: number;
  if (pcm >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  const segEnds = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];
  let seg = segEnds.findIndex((end) => pcm <= end);
  if (seg < 0) seg = 8;
  if (seg >= 8) return 0x7f ^ mask;
  let aval = seg << 4;
  aval |= seg < 2 ? (pcm >> 1) & 0x0f : (pcm >> seg) & 0x0f;
  return aval ^ mask;
}

export function writeTonePcap(path: string, hz: number, seconds: number, amplitude = 10000): void {
  const packets = Math.round(seconds * 50);
  const records: Buffer[] = [];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20); // Ethernet
  records.push(header);
  let n = 0;
  for (let p = 0; p < packets; p++) {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++, n++) payload[i] = linearToAlaw(Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / 8000)));
    const rtp = Buffer.alloc(12);
    rtp[0] = 0x80;
    rtp[1] = 8; // PCMA
    rtp.writeUInt16BE(p & 0xffff, 2);
    rtp.writeUInt32BE((p * 160) >>> 0, 4);
    rtp.writeUInt32BE(0x4d42 + hz, 8);
    const udpLen = 8 + 12 + 160;
    const frame = Buffer.alloc(14 + 20 + udpLen);
    frame.writeUInt16BE(0x0800, 12);
    frame[14] = 0x45;
    frame.writeUInt16BE(20 + udpLen, 16);
    frame[22] = 64;
    frame[23] = 17; // UDP
    Buffer.from([127, 0, 0, 1]).copy(frame, 26);
    Buffer.from([127, 0, 0, 1]).copy(frame, 30);
    frame.writeUInt16BE(10000, 34);
    frame.writeUInt16BE(20000, 36);
    frame.writeUInt16BE(udpLen, 38);
    rtp.copy(frame, 42);
    payload.copy(frame, 54);
    const rec = Buffer.alloc(16);
    const t = p * 0.02;
    rec.writeUInt32LE(Math.floor(t), 0);
    rec.writeUInt32LE(Math.round((t % 1) * 1e6), 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    records.push(rec, frame);
  }
  writeFileSync(path, Buffer.concat(records));
}
