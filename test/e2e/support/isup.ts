/**
 * SIP-I bodies for the trunk's INVITE (RFC 3204 / ITU-T Q.1912.5): the SDP with an
 * application/isup part, as interconnects send them, and an ISUP part alone. The ISUP IAM
 * carries the caller's number twice: BCD-coded (a Generic Number, "additional calling party
 * number") and as text (user-to-user information), so a test can look for either on the far side.
 *
 * sipp keeps a message as a C string and rewrites its line ends, so the binary part holds no
 * 0x00, 0x0a, 0x0d (and no '[', sipp's keyword bracket): field values are chosen to avoid them,
 * and the end-of-optional-parameters octet (0x00) is left off. The scenario file is written as
 * Latin-1 (support/sipp.ts), so each character below is one byte on the wire.
 */
import { isupBcd } from './number-forms.js';
import type { InviteBody } from './scenarios.js';

const BOUNDARY = 'mb-sip-i-7f3a';

/** One ISUP parameter: code, length, content. */
const param = (code: number, content: number[]) => [code, content.length, ...content];

/** An ISUP IAM (Q.763) for a call from `caller` (E.164) to `called` (national digits). */
export function isupIam(caller: string, called: string): string {
  const calledDigits = called.replace(/\D/g, '');
  const calledParam = [calledDigits.length % 2 ? 0x83 : 0x03, 0x10, ...isupBcd(calledDigits)]; // national, ISDN plan
  const generic = [0x06, 0x04, 0x13, ...isupBcd(caller)]; // additional calling party number; international; ISDN, user provided
  const uui = [0x04, ...Buffer.from(caller, 'latin1')]; // protocol discriminator: IA5 characters
  const fixed = [
    0x01, // message type: IAM
    0x01, // nature of connection indicators (one satellite circuit: avoids 0x00)
    0x60, 0x01, // forward call indicators
    0x0b, // calling party's category: ordinary subscriber, priority (0x0a is a line feed)
    0x03, // transmission medium requirement: 3.1 kHz audio
  ];
  // Pointers: to the called party number (the next octet but one) and to the optional part after it.
  const mandatoryVariable = [calledParam.length, ...calledParam];
  const pointers = [0x02, 0x01 + mandatoryVariable.length];
  const optional = [...param(0xc0, generic), ...param(0x20, uui)];
  const bytes = [...fixed, ...pointers, ...mandatoryVariable, ...optional];
  const bad = bytes.findIndex((b) => b === 0x00 || b === 0x0a || b === 0x0d || b === 0x5b);
  if (bad >= 0) throw new Error(`ISUP IAM byte ${bad} is 0x${bytes[bad]!.toString(16)}, which sipp cannot send (numbers ${caller}, ${called})`);
  return String.fromCharCode(...bytes);
}

/** The SDP and an ISUP IAM in multipart/mixed, the ISUP part marked for optional handling. */
export function sdpWithIsup(sdp: string, caller: string, called: string): InviteBody {
  return {
    contentType: `multipart/mixed;boundary=${BOUNDARY}`,
    content: [
      `--${BOUNDARY}`, 'Content-Type: application/sdp', '', sdp,
      `--${BOUNDARY}`, 'Content-Type: application/isup;version=itu-t92+', 'Content-Disposition: signal;handling=optional', '', isupIam(caller, called),
      `--${BOUNDARY}--`,
    ].join('\n'),
  };
}

/** An ISUP IAM as the whole body: no SDP at all. */
export function isupOnly(caller: string, called: string): InviteBody {
  return { contentType: 'application/isup;version=itu-t92+', content: isupIam(caller, called) };
}

export const ISUP_BOUNDARY = BOUNDARY;
