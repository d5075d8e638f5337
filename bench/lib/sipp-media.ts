/**
 * sipp scenarios with media for bench/media-load.ts: the trunk caller and the called phone both
 * offer G.711 A-law (payload 8) and, once the call is answered, play a pcap of RTP
 * (play_pcap_audio, as test/e2e/support/scenarios.ts does). Lean like bench/lib/sipp-load.ts: one
 * caller number per call from an injection file ([field0]), no identity-header zoo, and no
 * per-message timeouts (sipp's -recv_timeout and -timeout bound the run).
 */

import { send, xml } from '../../test/e2e/support/scenarios.js';
import { playPcap, uasScenario } from './sipp-load.js';


/** PCMA only, plus telephone-event: the codec the pcaps carry. */
const SDP_MEDIA = 'm=audio [media_port] RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=sendrecv';

const FROM = 'From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]';
const TO = 'To: <sip:[service]@[remote_ip]:[remote_port]>';

/**
 * The trunk: INVITE with PCMA, provisional responses (a media-anchored call gets 183 with the
 * media server's SDP first), 200, ACK, then RTP from `pcap` for `holdMs`, then the caller's BYE.
 */
export function uacMediaScenario(holdMs: number, pcap: string): string {
  return xml('bench media caller', [
    send(`
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
${FROM}
${TO}
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
P-Asserted-Identity: <sip:[field0]@carrier.example>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
${SDP_MEDIA}`, ' retrans="500"'),
    ...['100', '180', '183', '180'].map((s) => `  <recv response="${s}" optional="true"/>`),
    '  <recv response="200" rrs="true"/>',
    send(`
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
${FROM}
${TO}[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0`),
    playPcap(pcap),
    `  <pause milliseconds="${holdMs}"/>`,
    send(`
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
${FROM}
${TO}[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0`, ' retrans="500"'),
    '  <recv response="200"/>',
    '  <timewait milliseconds="500"/>',
  ].join('\n'));
}

/**
 * The called phone behind the gateway: 180 and 200 (PCMA) at once, then RTP from `pcap` from the
 * ACK until the BYE (bench/lib/sipp-load.ts's phone, with media).
 */
export function uasMediaScenario(pcap: string): string {
  return uasScenario({ sdp: SDP_MEDIA, pcap });
}
