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

interface RtpPacket {
  /** Send time, seconds from the start. */
  at: number;
  payloadType: number;
  marker: boolean;
  seq: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

/** Writes RTP packets as an Ethernet/IPv4/UDP pcap (sipp's play_pcap_audio reads these). */
function writeRtpPcap(path: string, packets: RtpPacket[]): void {
  const records: Buffer[] = [];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20); // Ethernet
  records.push(header);
  for (const pkt of packets) {
    const rtp = Buffer.alloc(12);
    rtp[0] = 0x80;
    rtp[1] = (pkt.marker ? 0x80 : 0) | pkt.payloadType;
    rtp.writeUInt16BE(pkt.seq & 0xffff, 2);
    rtp.writeUInt32BE(pkt.timestamp >>> 0, 4);
    rtp.writeUInt32BE(pkt.ssrc >>> 0, 8);
    const payload = pkt.payload;
    const udpLen = 8 + 12 + payload.length;
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
    const t = pkt.at;
    rec.writeUInt32LE(Math.floor(t), 0);
    rec.writeUInt32LE(Math.round((t % 1) * 1e6), 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    records.push(rec, frame);
  }
  writeFileSync(path, Buffer.concat(records));
}

/** A G.711 A-law tone, 20 ms per packet. */
export function writeTonePcap(path: string, hz: number, seconds: number, amplitude = 10000): void {
  const packets: RtpPacket[] = [];
  let n = 0;
  for (let p = 0; p < Math.round(seconds * 50); p++) {
    const payload = Buffer.alloc(160);
    for (let i = 0; i < 160; i++, n++) payload[i] = linearToAlaw(Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / 8000)));
    packets.push({ at: p * 0.02, payloadType: 8, marker: false, seq: p, timestamp: p * 160, ssrc: 0x4d42 + hz, payload });
  }
  writeRtpPcap(path, packets);
}

/**
 * RFC 2833/4733 telephone-events (payload type 101) keying `digits`, each 100 ms long with its
 * own RTP timestamp (receivers treat events with the same timestamp as one), 200 ms apart.
 */
export function writeDtmfPcap(path: string, digits: string): void {
  const code = (d: string) => (d === '*' ? 10 : d === '#' ? 11 : Number(d));
  const packets: RtpPacket[] = [];
  let seq = 1;
  [...digits].forEach((d, i) => {
    const start = i * 0.3;
    const timestamp = 8000 + i * 2400;
    const event = (duration: number, end: boolean) => Buffer.from([code(d), (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
    for (let k = 1; k <= 5; k++) {
      packets.push({ at: start + (k - 1) * 0.02, payloadType: 101, marker: k === 1, seq: seq++, timestamp, ssrc: 0x2833, payload: event(k * 160, false) });
    }
    for (let k = 0; k < 3; k++) {
      packets.push({ at: start + 0.1 + k * 0.005, payloadType: 101, marker: false, seq: seq++, timestamp, ssrc: 0x2833, payload: event(800, true) });
    }
  });
  writeRtpPcap(path, packets);
}
