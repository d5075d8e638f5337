/**
 * A stand-in for a phone's media stack: one UDP socket for RTP (an even port P) and one for RTCP
 * (P+1), sending G.711 mu-law RTP (20 ms packets) of a tone and, like many softphones, RTCP
 * compound packets (SR + SDES) whose CNAME and NAME are whatever the test says: a SIP URI with
 * the phone's number, say. It records everything that reaches either socket.
 *
 * The test's sipp scenario puts P in the SDP it sends, and learns the far end's media address
 * from the SDP it receives (MediaOpts.learnFile in scenarios.ts); readLearned() reads it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';

export interface Received {
  /** ms since the phone opened */
  at: number;
  from: { address: string; port: number };
  data: Buffer;
}

export interface MediaAddress {
  host: string;
  port: number;
}

/** ITU-T G.711 mu-law encoding of one 16-bit linear sample. */
export function linearToUlaw(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** An RTCP compound packet: a sender report, then SDES with CNAME and (optionally) NAME. */
export function rtcpCompound(ssrc: number, rtpTimestamp: number, packets: number, sdes: { cname: string; name?: string }): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80; // V=2, no reception reports
  sr[1] = 200;
  sr.writeUInt16BE(6, 2); // length in 32-bit words minus one
  sr.writeUInt32BE(ssrc >>> 0, 4);
  const now = Date.now();
  sr.writeUInt32BE(Math.floor(now / 1000) + 2_208_988_800, 8); // NTP seconds
  sr.writeUInt32BE(Math.floor(((now % 1000) / 1000) * 2 ** 32) >>> 0, 12);
  sr.writeUInt32BE(rtpTimestamp >>> 0, 16);
  sr.writeUInt32BE(packets, 20);
  sr.writeUInt32BE(packets * 160, 24);
  const item = (type: number, value: string) => {
    const v = Buffer.from(value, 'utf8');
    return Buffer.concat([Buffer.from([type, v.length]), v]);
  };
  const items = [item(1, sdes.cname), ...(sdes.name ? [item(2, sdes.name)] : []), Buffer.from([0])];
  let chunk = Buffer.concat([Buffer.alloc(4), ...items]);
  chunk.writeUInt32BE(ssrc >>> 0, 0);
  chunk = Buffer.concat([chunk, Buffer.alloc((4 - (chunk.length % 4)) % 4)]);
  const head = Buffer.from([0x81, 202, 0, 0]); // one chunk
  head.writeUInt16BE(chunk.length / 4, 2);
  return Buffer.concat([sr, head, chunk]);
}

function bind(sock: Socket, port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = () => resolve(false);
    sock.once('error', onError);
    sock.bind(port, host, () => {
      sock.removeListener('error', onError);
      resolve(true);
    });
  });
}

export class RtpPhone {
  readonly rtp: Received[] = [];
  readonly rtcp: Received[] = [];
  private readonly opened = Date.now();
  private timers: NodeJS.Timeout[] = [];

  private constructor(private readonly rtpSock: Socket, private readonly rtcpSock: Socket, readonly host: string, readonly port: number) {
    const record = (list: Received[]) => (data: Buffer, rinfo: { address: string; port: number }) =>
      list.push({ at: Date.now() - this.opened, from: { address: rinfo.address, port: rinfo.port }, data });
    rtpSock.on('message', record(this.rtp));
    rtcpSock.on('message', record(this.rtcp));
    // A datagram to a port nobody listens on must not fail the test: what arrives is what counts.
    rtpSock.on('error', () => undefined);
    rtcpSock.on('error', () => undefined);
  }

  /** Binds an even RTP port and the RTCP port above it, on `host`, in 40000-59998. */
  static async open(host = '127.0.0.1'): Promise<RtpPhone> {
    for (let tries = 0; tries < 50; tries++) {
      const port = 40000 + 2 * Math.floor(Math.random() * 10000);
      const rtp = createSocket('udp4');
      const rtcp = createSocket('udp4');
      if ((await bind(rtp, port, host)) && (await bind(rtcp, port + 1, host))) return new RtpPhone(rtp, rtcp, host, port);
      rtp.close();
      try {
        rtcp.close();
      } catch {
        // never bound
      }
    }
    throw new Error('no free RTP/RTCP port pair');
  }

  /** Everything received on both sockets, RTP and RTCP. */
  get all(): Received[] {
    return [...this.rtp, ...this.rtcp];
  }

  /**
   * Sends `hz` as PCMU RTP every 20 ms to `to` (from the RTP socket: symmetric, as phones do),
   * and, when `sdes` is given, an RTCP compound every 500 ms to `to`'s port + 1 (from the RTCP
   * socket). Runs until stop().
   */
  stream(to: MediaAddress, hz: number, sdes?: { cname: string; name?: string }): void {
    const ssrc = 0x5a000000 + this.port;
    let seq = Math.floor(Math.random() * 1000);
    let ts = 0;
    let sent = 0;
    let n = 0;
    const packet = () => {
      const buf = Buffer.alloc(12 + 160);
      buf[0] = 0x80;
      buf[1] = (sent === 0 ? 0x80 : 0) | 0; // marker on the first, PT 0 (PCMU)
      buf.writeUInt16BE(seq++ & 0xffff, 2);
      buf.writeUInt32BE(ts >>> 0, 4);
      buf.writeUInt32BE(ssrc, 8);
      for (let i = 0; i < 160; i++, n++) buf[12 + i] = linearToUlaw(10000 * Math.sin((2 * Math.PI * hz * n) / 8000));
      ts += 160;
      sent++;
      this.rtpSock.send(buf, to.port, to.host);
    };
    this.timers.push(setInterval(packet, 20));
    if (sdes) {
      const report = () => this.rtcpSock.send(rtcpCompound(ssrc, ts, sent, sdes), to.port + 1, to.host);
      this.timers.push(setInterval(report, 500));
      setImmediate(report);
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  close(): void {
    this.stop();
    this.rtpSock.close();
    this.rtcpSock.close();
  }

  /** The PCMU audio of the RTP received from `fromMs` on (packets in arrival order). */
  audio(fromMs = 0): Int16Array {
    const payloads: Buffer[] = [];
    for (const p of this.rtp) {
      if (p.at < fromMs || p.data.length < 12 || p.data[0]! >> 6 !== 2 || (p.data[1]! & 0x7f) !== 0) continue;
      const csrc = (p.data[0]! & 0x0f) * 4;
      let offset = 12 + csrc;
      if (p.data[0]! & 0x10) offset += 4 + p.data.readUInt16BE(offset + 2) * 4;
      payloads.push(p.data.subarray(offset));
    }
    const bytes = Buffer.concat(payloads);
    const out = new Int16Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = ulawToLinear(bytes[i]!);
    return out;
  }
}

/**
 * The far end's media address that sipp wrote to `file` (MediaOpts.learnFile): "c=IN IP4 <ip>
 * m=audio <port>". Waits for it up to `timeoutMs`.
 */
export async function readLearned(file: string, timeoutMs = 10_000): Promise<MediaAddress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const m = /c=IN IP4 ([0-9.]+)\s+m=audio (\d+)/.exec(text);
    if (m) return { host: m[1]!, port: Number(m[2]) };
    if (Date.now() > deadline) throw new Error(`sipp did not write the far end's media address to ${file} within ${timeoutMs} ms (got ${JSON.stringify(text)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
