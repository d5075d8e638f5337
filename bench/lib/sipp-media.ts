/**
 * sipp scenarios with media for bench/media-load.ts: bench/lib/sipp-load.ts's caller and phone,
 * offering G.711 A-law (payload 8) and, once the call is answered, sending RTP: by default with
 * sipp's rtp_stream from a raw A-law file, or (BENCH_MEDIA_RTP=pcap) by playing a pcap.
 */
import { writeFileSync } from 'node:fs';
import { linearToAlaw } from '../../test/e2e/support/pcap.js';
import { pcapAction } from '../../test/e2e/support/scenarios.js';
import { playStream, uacScenario, uasScenario, type ScenarioMedia } from './sipp-load.js';

export type RtpSender = 'stream' | 'pcap';

const CODECS = 'RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=sendrecv';

/** The SDP media line and the RTP action for one side, by sender. */
function media(sender: RtpSender, file: string): ScenarioMedia {
  return sender === 'stream'
    ? { sdp: `m=audio [rtpstream_audio_port] ${CODECS}`, play: playStream(file) }
    : { sdp: `m=audio [media_port] ${CODECS}`, play: pcapAction(file) };
}

/**
 * The trunk: INVITE with PCMA, provisional responses (a media-anchored call gets 183 with the
 * media server's SDP first), 200, ACK, then RTP from `file` for `holdMs`, then the caller's BYE.
 */
export function uacMediaScenario(holdMs: number, sender: RtpSender, file: string): string {
  return uacScenario(holdMs, media(sender, file));
}

/** The called phone behind the gateway: 180 and 200 (PCMA) at once, then RTP from `file` from the ACK until the BYE. */
export function uasMediaScenario(sender: RtpSender, file: string): string {
  return uasScenario(media(sender, file));
}

/** A `hz` tone as raw G.711 A-law at 8 kHz, `seconds` long: the file rtp_stream sends. */
export function writeToneAlaw(path: string, hz: number, seconds: number, amplitude = 10000): void {
  const samples = Math.round(seconds * 8000);
  const out = Buffer.alloc(samples);
  for (let n = 0; n < samples; n++) out[n] = linearToAlaw(Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / 8000)));
  writeFileSync(path, out);
}
