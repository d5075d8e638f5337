/**
 * sipp scenarios, generated per test so each one states exactly the flow it expects.
 * Any message a scenario does not expect makes sipp fail the call (exit code != 0).
 */

/** A sipp scenario document. */
export const xml = (name: string, body: string) =>
  `<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="${name}">\n${body}\n</scenario>\n`;

/** A <send> of `msg`, one header per line; `attrs` is true for UDP retransmission or raw attributes. */
export const send = (msg: string, attrs: boolean | string = false) =>
  `  <send${typeof attrs === 'string' ? attrs : attrs ? ' retrans="500"' : ''}>\n    <![CDATA[\n${msg.trim().split('\n').map((l) => `      ${l.trim()}`).join('\n')}\n\n    ]]>\n  </send>`;

const reply = (status: string, extra = '', attrs: string | false = false) =>
  send(`SIP/2.0 ${status}\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n${extra}Content-Length: 0`, attrs);

/** From/To of the trunk caller. [caller] comes from -key caller. */
const CALLER_FROM = 'From: "Alice Customer" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]';
const CALLER_TO = 'To: <sip:[service]@[remote_ip]:[remote_port]>';

/** Media options: which G.711 payload the SDP offers, and where RTP should go (default: sipp's own -mp port). */
export interface MediaOpts {
  /** 0 = PCMU, 8 = PCMA (sipp's g711a.pcap is PCMA). */
  payload?: 0 | 8;
  /** Send RTP to this port instead of sipp's (a test socket that counts what it receives). */
  rtpPort?: number;
  /** A pcap whose RTP sipp plays once the call is answered (both directions media-tested). */
  pcap?: string;
  /**
   * sipp writes the far end's media address ("c=IN IP4 <ip> m=audio <port>") to this file as
   * soon as it gets the far end's SDP (support/rtp.ts readLearned), for a test socket to send to.
   */
  learnFile?: string;
  /** Extra lines for the caller's SDP: session-level ones (after i=) and media-level ones (after the rtpmaps). */
  extraLines?: { session?: string[]; media?: string[] };
}

function sdpMedia(m: MediaOpts): string {
  const pt = m.payload ?? 0;
  const port = m.rtpPort ?? '[media_port]';
  return [`m=audio ${port} RTP/AVP ${pt} 101`, `a=rtpmap:${pt} ${pt === 8 ? 'PCMA' : 'PCMU'}/8000`, ...(m.extraLines?.media ?? [])].join('\n');
}

/** The actions that write the far end's media address (from the SDP of the message just received) to `file`. */
const learnMedia = (file: string) => `
      <ereg regexp="c=IN IP4 [0-9.]+" search_in="body" check_it="true" assign_to="mediac"/>
      <ereg regexp="m=audio [0-9]+" search_in="body" check_it="true" assign_to="mediam"/>
      <exec command="echo '[$mediac] [$mediam]' > ${file}"/>`;

/** A <recv> of `what` (e.g. 'response="200" rrs="true"'), writing the far end's media address when `file` is set. */
const recvLearning = (what: string, file: string | undefined) =>
  file ? `  <recv ${what}>\n    <action>${learnMedia(file)}\n    </action>\n  </recv>` : `  <recv ${what}/>`;

/** sipp plays the RTP of `pcap` to the media address the other side gave. */
export const pcapAction = (pcap: string) => `  <nop>\n    <action>\n      <exec play_pcap_audio="${pcap}"/>\n    </action>\n  </nop>`;

const playPcap = (m: MediaOpts) => (m.pcap ? pcapAction(m.pcap) : '');

/** The INVITE a carrier delivers, with the caller's number in every identity header and (@BODY@) the SDP. */
const TRUNK_INVITE = `
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
${CALLER_FROM}
${CALLER_TO}
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: "Alice Customer" <sip:[caller]@[local_ip]:[local_port]>
P-Asserted-Identity: "Alice Customer" <sip:[caller]@carrier.example>
P-Preferred-Identity: <sip:[caller]@carrier.example>
Remote-Party-ID: "Alice Customer" <sip:[caller]@carrier.example>;party=calling;screen=yes;privacy=off
Privacy: none
Diversion: <sip:[caller]@carrier.example>;reason=unconditional
History-Info: <sip:[caller]@carrier.example>;index=1
Referred-By: <sip:[caller]@carrier.example>
Call-Info: <http://carrier.example/u/[caller]>;purpose=info
X-Original-Caller: [caller]
Subject: Call from [caller]
Max-Forwards: 70
@BODY@`;

/** The SDP of the trunk's INVITE, with the caller's number in o=, s= and i=. */
export const trunkOfferSdp = (media: MediaOpts) => `v=0
o=[caller] 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=Call from [caller]
i=[caller]
${[...(media.extraLines?.session ?? []), 'c=IN IP[media_ip_type] [media_ip]'].join('\n')}
t=0 0
${sdpMedia(media)}
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv`;

/** The body of the trunk's INVITE: its SDP (default), a body of another type, or none (a delayed offer). */
export type InviteBody = { contentType: string; content: string } | 'none';

function trunkInvite(media: MediaOpts, body: InviteBody | undefined): string {
  const content = body === undefined ? `Content-Type: application/sdp\nContent-Length: [len]\n\n${trunkOfferSdp(media)}`
    : body === 'none' ? 'Content-Length: 0'
      : `Content-Type: ${body.contentType}\nContent-Length: [len]\n\n${body.content}`;
  return TRUNK_INVITE.replace('@BODY@', content);
}

/** The caller's ACK: to the dialog's remote target for a 2xx, or hop-by-hop (INVITE's branch) for a failure. */
const ack = (kind: '2xx' | 'failure', branch = '[branch]', cseq = 1) => `
ACK ${kind === '2xx' ? '[next_url]' : 'sip:[service]@[remote_ip]:[remote_port]'} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=${branch}
${kind === '2xx' ? '[routes]\n' : ''}${CALLER_FROM}
${CALLER_TO}[peer_tag_param]
Call-ID: [call_id]
CSeq: ${cseq} ACK
Max-Forwards: 70
Content-Length: 0`;

const CALLER_CONTACT = 'Contact: <sip:[caller]@[local_ip]:[local_port]>';

/** A request of the caller's inside the answered dialog; `rest` is its remaining headers and body. */
const callerInDialog = (method: string, cseq: number, rest: string) => `
${method} [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
${CALLER_FROM}
${CALLER_TO}[peer_tag_param]
Call-ID: [call_id]
CSeq: ${cseq} ${method}
Max-Forwards: 70
${rest}`;

/** The caller's SDP as a body (with its Content-Type), at o= version `version`. */
const callerSdp = (version: number, session: string, media: MediaOpts, attributes: string[]) => `Content-Type: application/sdp
Content-Length: [len]

v=0
o=[caller] 53655765 ${version} IN IP[local_ip_type] [local_ip]
s=${session}
c=IN IP[media_ip_type] [media_ip]
t=0 0
${sdpMedia(media)}
${attributes.join('\n')}`;

const PROVISIONALS = ['100', '180', '183', '180'].map((s) => `  <recv response="${s}" optional="true"/>`);

export type UacPlan = (
  | {
      outcome: 'answer';
      hangup: 'caller' | 'callee';
      talkMs?: number;
      holdUnhold?: boolean;
      /** pcap of RFC 2833 digits to key once answered */
      dtmf?: string;
      /** Once answered, try a blind transfer (REFER) and expect this status. */
      referExpect?: number;
      /** Once answered, send an UPDATE with a new SDP offer (marked a=ptime:30) and expect a 200. */
      updateOffer?: boolean;
      /** Once answered, send a re-INVITE without SDP (a session refresh), expect an offer, ACK with the answer. */
      refreshWithoutSdp?: boolean;
      /** With hangup 'caller': a BYE from maskbridge within talkMs is answered instead (the call was cut); either way the call passes. */
      byeFirst?: boolean;
    }
  | {
      outcome: 'reject';
      status: number;
      earlyMedia?: boolean;
      /** 180/183 (with or without SDP) may come before the final status. */
      ringing?: boolean;
    }
  | { outcome: 'cancel'; afterMs?: number; ringing?: 180 | 183 }
) & {
  media?: MediaOpts;
  /** The INVITE's body instead of its SDP; 'none' for a delayed offer (answered: the ACK carries the caller's answer). */
  body?: InviteBody;
};

/** The trunk side: delivers [caller]'s call to [service] and plays out `plan`. */
export function uacScenario(plan: UacPlan): string {
  // A CANCEL, and the ACK of a failure, reuse the INVITE's branch. sipp's [branch-N] means
  // "the branch of the scenario element N places back", so it is computed from the position.
  const media = plan.media ?? {};
  const parts = [send(trunkInvite(media, plan.body), true)];
  const inviteBranch = () => `[branch-${parts.length}]`;
  if (plan.outcome === 'reject') {
    parts.push(...(plan.ringing ? PROVISIONALS : [`  <recv response="100" optional="true"/>`]));
    if (plan.earlyMedia) parts.push(`  <recv response="183"/>`);
    parts.push(`  <recv response="${plan.status}" timeout="15000"/>`);
    parts.push(send(ack('failure', inviteBranch())));
  } else if (plan.outcome === 'cancel') {
    parts.push(`  <recv response="100" optional="true"/>`, `  <recv response="${plan.ringing ?? 180}"/>`, `  <pause milliseconds="${plan.afterMs ?? 300}"/>`);
    parts.push(send(`
CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=${inviteBranch()}
${CALLER_FROM}
${CALLER_TO}
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0`));
    parts.push(`  <recv response="200"/>`, `  <recv response="487"/>`);
    parts.push(send(ack('failure', inviteBranch())));
  } else {
    parts.push(...PROVISIONALS, recvLearning('response="200" rrs="true" timeout="15000"', media.learnFile));
    // A delayed offer: the 200 carried the offer, the ACK carries the caller's answer.
    parts.push(send(plan.body === 'none' ? callerInDialog('ACK', 1, callerSdp(2353687637, '-', media, ['a=rtpmap:101 telephone-event/8000', 'a=sendrecv'])) : ack('2xx')));
    if (media.pcap) parts.push(playPcap(media));
    if (plan.dtmf) parts.push(`  <pause milliseconds="500"/>`, playPcap({ pcap: plan.dtmf }));
    let cseq = 2;
    if (plan.holdUnhold) {
      for (const direction of ['sendonly', 'sendrecv']) {
        parts.push(`  <pause milliseconds="400"/>`);
        parts.push(send(callerInDialog('INVITE', cseq, `${CALLER_CONTACT}\n${callerSdp(cseq, '-', media, [`a=${direction}`])}`), true));
        parts.push(`  <recv response="100" optional="true"/>`, `  <recv response="200"/>`);
        parts.push(send(ack('2xx', '[branch]', cseq)));
        cseq++;
      }
    }
    if (plan.refreshWithoutSdp) {
      parts.push(`  <pause milliseconds="200"/>`);
      parts.push(send(callerInDialog('INVITE', cseq, `${CALLER_CONTACT}\nContent-Length: 0`), true));
      parts.push(`  <recv response="100" optional="true"/>`, `  <recv response="200"/>`);
      // The 200 carried the offer, so the ACK carries the answer: the caller's SDP, unchanged.
      parts.push(send(callerInDialog('ACK', cseq, callerSdp(2353687637, '-', media, ['a=sendrecv']))));
      cseq++;
    }
    if (plan.updateOffer) {
      parts.push(`  <pause milliseconds="200"/>`);
      parts.push(send(callerInDialog('UPDATE', cseq, `${CALLER_CONTACT}\n${callerSdp(2353687638, 'Call from [caller]', media, ['a=ptime:30', 'a=sendrecv'])}`), true));
      parts.push(`  <recv response="100" optional="true"/>`, `  <recv response="200"/>`);
      cseq++;
    }
    if (plan.referExpect) {
      parts.push(`  <pause milliseconds="200"/>`);
      parts.push(send(callerInDialog('REFER', cseq, `${CALLER_CONTACT}
Refer-To: <sip:+919800000099@carrier.example>
Referred-By: <sip:[caller]@carrier.example>
Content-Length: 0`), true));
      parts.push(`  <recv response="${plan.referExpect}"/>`);
      cseq++;
    }
    if (plan.hangup === 'caller' && plan.byeFirst) {
      // Labels 9 (talk time over: our BYE) and 10 (done).
      parts.push(`  <recv request="BYE" timeout="${plan.talkMs ?? 500}" ontimeout="9"/>`, reply('200 OK', '', ' next="10"'));
      parts.push(`  <label id="9"/>`, send(callerInDialog('BYE', cseq, 'Content-Length: 0'), true), `  <recv response="200"/>`, `  <label id="10"/>`);
    } else if (plan.hangup === 'caller') {
      parts.push(`  <pause milliseconds="${plan.talkMs ?? 500}"/>`);
      parts.push(send(callerInDialog('BYE', cseq, 'Content-Length: 0'), true));
      parts.push(`  <recv response="200"/>`);
    } else {
      parts.push(`  <recv request="BYE" timeout="20000"/>`, reply('200 OK'));
    }
  }
  parts.push(`  <timewait milliseconds="300"/>`);
  return xml('trunk caller', parts.join('\n'));
}

export type UasPlan = (
  | {
      outcome: 'answer';
      hangup: 'caller' | 'callee';
      talkMs?: number;
      holdUnhold?: boolean;
      /** Once answered, expect one re-INVITE and answer it with SDP marked a=ptime:40. */
      answerReinvite?: boolean;
      /** How long the phone rings (between its 180 and its 200); default 200 ms. */
      ringMs?: number;
      /** The INVITE comes without SDP (a delayed offer): the 200 is the offer, the ACK brings the answer. */
      delayedOffer?: boolean;
    }
  | { outcome: 'reject'; status: number; reason: string }
  | { outcome: 'ring-until-cancel' }
) & { media?: MediaOpts };

/**
 * The other participant's phone behind the outbound gateway. It answers with its own identity
 * everywhere (PAI, RPID, Contact user, SDP o=/s=) so the test can prove none of it reaches the caller.
 */
export function uasScenario(plan: UasPlan): string {
  // sipp refuses variables that are set but never used, so capture only what the plan needs.
  const sendsInDialog = plan.outcome === 'answer' && (plan.hangup === 'callee' || plan.holdUnhold === true);
  const learnFile = plan.media?.learnFile;
  const delayed = plan.outcome === 'answer' && plan.delayedOffer === true;
  const captures = `
  <recv request="INVITE" rrs="true">
    <action>${learnFile && !delayed ? learnMedia(learnFile) : ''}
      <ereg regexp="[+]?[0-9]+" search_in="hdr" header="To:" assign_to="callee"/>${plan.outcome === 'ring-until-cancel' ? `
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="invcseq"/>` : ''}${sendsInDialog ? `
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="fromhdr"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="tohdr"/>
      <ereg regexp="sips?:[^&gt;;]*" search_in="hdr" header="Contact:" assign_to="contacturi"/>` : ''}
    </action>
  </recv>`;
  const ident = `P-Asserted-Identity: "Bob Driver" <sip:[$callee]@carrier.example>\nRemote-Party-ID: "Bob Driver" <sip:[$callee]@carrier.example>;party=called;screen=yes\n`;
  const parts = [captures, reply('100 Trying')];
  const to = '[last_To:];tag=[pid]SIPpTag01[call_number]';
  const ringing = send(`SIP/2.0 180 Ringing\n[last_Via:]\n[last_From:]\n${to}\n[last_Call-ID:]\n[last_CSeq:]\nContact: "Bob Driver" <sip:[$callee]@[local_ip]:[local_port]>\n${ident}Content-Length: 0`);
  if (plan.outcome === 'reject') {
    parts.push(send(`SIP/2.0 ${plan.status} ${plan.reason}\n[last_Via:]\n[last_From:]\n${to}\n[last_Call-ID:]\n[last_CSeq:]\n${ident}Content-Length: 0`));
    parts.push(`  <recv request="ACK"/>`);
  } else if (plan.outcome === 'ring-until-cancel') {
    parts.push(ringing, `  <recv request="CANCEL"/>`, reply('200 OK'));
    parts.push(send(`SIP/2.0 487 Request Terminated\n[last_Via:]\n[last_From:]\n${to}\n[last_Call-ID:]\nCSeq: [$invcseq] INVITE\nContent-Length: 0`));
    parts.push(`  <recv request="ACK"/>`);
  } else {
    // A 200 with the callee's SDP at o= version `version`, its identity in the headers and the SDP.
    const ok = (toHeader: string, version: number, attributes: string[] = []) => `
SIP/2.0 200 OK
[last_Via:]
[last_From:]
${toHeader}
[last_Call-ID:]
[last_CSeq:]
Contact: "Bob Driver" <sip:[$callee]@[local_ip]:[local_port]>
${ident.trim()}
Content-Type: application/sdp
Content-Length: [len]

v=0
o=[$callee] 1 ${version} IN IP[local_ip_type] [local_ip]
s=Bob [$callee]
i=[$callee]
c=IN IP[media_ip_type] [media_ip]
t=0 0
${[sdpMedia(plan.media ?? {}), ...attributes].join('\n')}`;
    parts.push(ringing, `  <pause milliseconds="${plan.ringMs ?? 200}"/>`);
    parts.push(send(ok(to, 1), true));
    parts.push(recvLearning('request="ACK"', delayed ? learnFile : undefined));
    if (plan.media?.pcap) parts.push(playPcap(plan.media));
    let cseq = 1;
    const inDialog = (method: string, n: number, extra = '') => `
${method} [$contacturi] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$tohdr];tag=[pid]SIPpTag01[call_number]
To: [$fromhdr]
Call-ID: [call_id]
CSeq: ${n} ${method}
Max-Forwards: 70
${extra}`;
    if (plan.answerReinvite) {
      parts.push(`  <recv request="INVITE" timeout="10000"/>`);
      parts.push(send(ok('[last_To:]', 2, ['a=ptime:40']), true));
      parts.push(`  <recv request="ACK"/>`);
    }
    if (plan.holdUnhold) {
      for (const direction of ['sendonly', 'sendrecv']) {
        parts.push(`  <pause milliseconds="400"/>`);
        parts.push(send(inDialog('INVITE', cseq, `Contact: <sip:[$callee]@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=[$callee] 1 ${cseq + 1} IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
${sdpMedia(plan.media ?? {})}
a=${direction}`), true));
        parts.push(`  <recv response="100" optional="true"/>`, `  <recv response="200"/>`);
        parts.push(send(inDialog('ACK', cseq, 'Content-Length: 0')));
        cseq++;
      }
    }
    if (plan.hangup === 'callee') {
      parts.push(`  <pause milliseconds="${plan.talkMs ?? 500}"/>`);
      parts.push(send(inDialog('BYE', cseq, 'Content-Length: 0'), true));
      parts.push(`  <recv response="200"/>`);
    } else {
      parts.push(`  <recv request="BYE" timeout="20000"/>`, reply('200 OK'));
    }
  }
  parts.push(`  <timewait milliseconds="300"/>`);
  return xml('called phone', parts.join('\n'));
}

/** An OPTIONS keep-alive from the trunk, expecting `status`. */
export function optionsScenario(status: number): string {
  return xml('options ping', [send(`
OPTIONS sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:ping@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0`, true), `  <recv response="${status}"/>`].join('\n'));
}
