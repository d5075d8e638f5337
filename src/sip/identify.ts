import { BlockList, isIP } from 'node:net';
import { addCidr } from '../config/schema.js';
import { NumberFormatError, toE164 } from '../numbers/normalise.js';
import type { InviteInfo } from './port.js';
import { firstHeaderEntry, parseUri, uriOf } from './uri.js';

/** A SIP rejection decided before any lookup. */
export class SipRejection extends Error {
  override readonly name = 'SipRejection';
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly disposition: 'rejected-acl' | 'rejected-number',
    detail?: string,
  ) {
    super(detail ?? `${status} ${reason}`);
  }
}

export function buildAcl(entries: string[]): BlockList {
  const list = new BlockList();
  for (const e of entries) addCidr(list, e);
  return list;
}

/** 403 unless the INVITE comes from an allowed trunk address. */
export function checkSource(acl: BlockList, info: InviteInfo): void {
  if (!isTrunkSource(acl, info.sourceAddress)) {
    throw new SipRejection(403, 'Forbidden', 'rejected-acl', `source ${info.sourceAddress} is not an allowed trunk`);
  }
}

/** Verdicts by ACL and source address: trunks are few, and BlockList#check costs tens of µs. */
const verdicts = new WeakMap<BlockList, Map<string, boolean>>();
const VERDICT_LIMIT = 4096;

/** True when `source` (an IPv4, IPv6 or v4-mapped address) is in the trunk ACL. */
export function isTrunkSource(acl: BlockList, source: string): boolean {
  let known = verdicts.get(acl);
  if (!known) verdicts.set(acl, (known = new Map()));
  const cached = known.get(source);
  if (cached !== undefined) return cached;
  const addr = source.replace(/^::ffff:/, '');
  const family = isIP(addr);
  const ok = family !== 0 && acl.check(addr, family === 6 ? 'ipv6' : 'ipv4');
  if (known.size >= VERDICT_LIMIT) known.clear();
  known.set(source, ok);
  return ok;
}

export interface CallParties {
  /** The virtual number dialled, E.164. */
  virtualNumber: string;
  /** The caller's real number, E.164. */
  caller: string;
}

export interface IdentifyOptions {
  defaultRegion: string;
  virtualNumberFrom: 'request-uri' | 'to';
}

/** The user parts that name V and the caller, as the INVITE wrote them. */
export interface RawParties {
  virtualUser: string;
  callerUser: string;
}

/**
 * Finds the virtual number (Request-URI or To user) and the caller (P-Asserted-Identity from the
 * trusted trunk, else From), normalised to E.164. Throws SipRejection with a 4xx otherwise.
 */
export function identifyParties(info: InviteInfo, opts: IdentifyOptions): CallParties {
  return normaliseParties(locateParties(info, opts), opts);
}

/** Step one of identifyParties: the raw user parts. 484 without a called user, 433 for an anonymous caller. */
export function locateParties(info: InviteInfo, opts: IdentifyOptions): RawParties {
  const vSource = opts.virtualNumberFrom === 'to' ? uriOf(info.header('to') ?? '') : info.requestUri;
  const vUri = parseUri(vSource);
  if (!vUri) throw new SipRejection(484, 'Invalid Virtual Number', 'rejected-number', 'no user part in the called URI');
  const pai = info.header('p-asserted-identity');
  const callerHeader = pai ? firstHeaderEntry(pai) : info.header('from') ?? '';
  const callerUri = parseUri(uriOf(callerHeader));
  if (!callerUri || /^anonymous$/i.test(callerUri.user) || callerUri.host.endsWith('anonymous.invalid')) {
    throw new SipRejection(433, 'Anonymity Disallowed', 'rejected-number', 'the caller withheld its number');
  }
  return { virtualUser: vUri.user, callerUser: callerUri.user };
}

/** Step two: both numbers to E.164 (libphonenumber-js). 484 for a bad called number, 400 for a bad caller. */
export function normaliseParties(raw: RawParties, opts: IdentifyOptions): CallParties {
  let virtualNumber: string;
  try {
    virtualNumber = toE164(raw.virtualUser, opts.defaultRegion);
  } catch (err) {
    if (err instanceof NumberFormatError) {
      throw new SipRejection(484, 'Invalid Virtual Number', 'rejected-number', `called number: ${err.problem}`);
    }
    throw err;
  }
  let caller: string;
  try {
    caller = toE164(raw.callerUser, opts.defaultRegion);
  } catch (err) {
    if (err instanceof NumberFormatError) {
      throw new SipRejection(400, 'Invalid Caller Number', 'rejected-number', `caller number: ${err.problem}`);
    }
    throw err;
  }
  return { virtualNumber, caller };
}

const CANONICAL = /^\+[1-9]\d{6,14}$/;

/**
 * The numbers the raw user parts would normalise to when both are already written in canonical
 * E.164, as trunks usually send them; null otherwise. Only a guess (nothing is validated): a
 * caller may start work with it, but must act only on what normaliseParties returns.
 */
export function canonicalGuess(raw: RawParties): CallParties | null {
  return CANONICAL.test(raw.virtualUser) && CANONICAL.test(raw.callerUser) ? { virtualNumber: raw.virtualUser, caller: raw.callerUser } : null;
}
