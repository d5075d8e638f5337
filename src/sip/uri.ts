/** Minimal, strict readers for the URI parts maskbridge needs. Pure. */

export interface UriParts {
  scheme: 'sip' | 'sips' | 'tel';
  user: string;
  host: string;
}

/** The URI inside a name-addr ("Name" <sip:u@h>;tag=x) or an addr-spec (sip:u@h;tag=x). */
export function uriOf(headerValue: string): string {
  const lt = headerValue.indexOf('<');
  if (lt >= 0) {
    const gt = headerValue.indexOf('>', lt);
    return gt > lt ? headerValue.slice(lt + 1, gt).trim() : '';
  }
  return (headerValue.split(';')[0] ?? '').trim();
}

/** Parses sip:, sips: and tel: URIs; returns null for anything else or when there is no user part. */
export function parseUri(uri: string): UriParts | null {
  const m = /^(sips?|tel):(.*)$/i.exec(uri.trim());
  if (!m) return null;
  const scheme = (m[1] as string).toLowerCase() as UriParts['scheme'];
  const rest = m[2] as string;
  if (scheme === 'tel') {
    const user = rest.split(';')[0] ?? '';
    return user ? { scheme, user, host: '' } : null;
  }
  const at = rest.lastIndexOf('@');
  if (at <= 0) return null;
  const userinfo = rest.slice(0, at);
  const user = (userinfo.split(':')[0] ?? '').split(';')[0] ?? '';
  const host = (rest.slice(at + 1).split(/[;?]/)[0] ?? '').toLowerCase().replace(/:\d+$/, '');
  return user ? { scheme, user, host } : null;
}

/** The first entry of a possibly comma-separated header (PAI may carry a sip and a tel URI). */
export function firstHeaderEntry(value: string): string {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth--;
    else if (!quoted && depth === 0 && c === ',') return value.slice(0, i).trim();
  }
  return value.trim();
}
