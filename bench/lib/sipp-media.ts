/**
 * sipp scenarios with media for bench/media-load.ts: bench/lib/sipp-load.ts's caller and phone,
 * offering G.711 A-law (payload 8) and, once the call is answered, playing a pcap of RTP.
 */
import { uacScenario, uasScenario } from './sipp-load.js';

/** PCMA only, plus telephone-event: the codec the pcaps carry. */
const SDP_MEDIA = 'm=audio [media_port] RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=sendrecv';

/**
 * The trunk: INVITE with PCMA, provisional responses (a media-anchored call gets 183 with the
 * media server's SDP first), 200, ACK, then RTP from `pcap` for `holdMs`, then the caller's BYE.
 */
export function uacMediaScenario(holdMs: number, pcap: string): string {
  return uacScenario(holdMs, { sdp: SDP_MEDIA, pcap });
}

/**
 * The called phone behind the gateway: 180 and 200 (PCMA) at once, then RTP from `pcap` from the
 * ACK until the BYE (bench/lib/sipp-load.ts's phone, with media).
 */
export function uasMediaScenario(pcap: string): string {
  return uasScenario({ sdp: SDP_MEDIA, pcap });
}
