import { describe, expect, it } from 'vitest';
import { parseTrunkSource } from '../../src/config/schema.js';
import { SourceGate, type DefenceSettings } from '../../src/sip/defences.js';
import { buildAcl } from '../../src/sip/identify.js';

const settings = (over: Partial<DefenceSettings> = {}, rate: Partial<DefenceSettings['rateLimit']> = {}): DefenceSettings => ({
  scannerUserAgents: ['friendly-scanner', 'sipvicious'],
  scannerStatus: 403,
  rateLimit: { limit: 3, windowMs: 2000, banMs: 10_000, status: 403, maxSources: 100, ...rate },
  trunkSources: [{ cidr: '127.0.0.1/32', limit: null }],
  ...over,
});
const gate = (s = settings()) => new SourceGate(buildAcl(['127.0.0.0/8']), s);
const from = (sourceAddress: string, ua?: string) => ({ sourceAddress, header: (n: string) => (n === 'user-agent' ? ua : undefined) });

describe('edge gate', () => {
  it('refuses a source outside the trunk ACL', () => {
    expect(gate().check(from('192.0.2.1'), 0)).toMatchObject({ pass: false, reason: 'acl', status: 403 });
  });

  it.each(['friendly-scanner', 'Friendly-Scanner 1.0', 'SIPVicious/0.3'])('refuses the scanner User-Agent %s, whatever its case', (ua) => {
    expect(gate().check(from('127.0.0.3', ua), 0)).toMatchObject({ pass: false, reason: 'scanner' });
  });

  it('lets an ordinary User-Agent and a missing one through', () => {
    const g = gate();
    expect(g.check(from('127.0.0.3', 'Linphone/5.2'), 0)).toEqual({ pass: true });
    expect(g.check(from('127.0.0.4'), 0)).toEqual({ pass: true });
  });

  it('bans a source over the limit within the window, once, and keeps refusing it for the ban time', () => {
    const g = gate();
    for (let i = 0; i < 3; i++) expect(g.check(from('127.0.0.3'), 100 * i).pass).toBe(true);
    expect(g.check(from('127.0.0.3'), 400)).toMatchObject({ pass: false, reason: 'rate-limited', banStarted: true });
    expect(g.bannedSources).toBe(1);
    // Quiet after the ban started: still refused until it ends, without starting another ban.
    expect(g.check(from('127.0.0.3'), 5000)).toMatchObject({ pass: false, reason: 'banned', banStarted: false });
    expect(g.check(from('127.0.0.3'), 10_401)).toEqual({ pass: true });
    expect(g.bannedSources).toBe(0);
    // Other sources are not affected.
    expect(g.check(from('127.0.0.4'), 400)).toEqual({ pass: true });
  });

  it('keeps a source that goes on flooding banned past the first ban time', () => {
    const g = gate();
    let t = 0;
    for (; t < 20_000; t += 100) g.check(from('127.0.0.3'), t); // 10 INVITEs per second for 20 s
    expect(g.check(from('127.0.0.3'), t)).toMatchObject({ pass: false, reason: 'banned' });
  });

  it('counts in windows: the limit per window is never a ban', () => {
    const g = gate();
    for (let w = 0; w < 10; w++) for (let i = 0; i < 3; i++) expect(g.check(from('127.0.0.3'), w * 2000 + i).pass).toBe(true);
  });

  it('never limits a named trunk source, and gives a trunk with a limit its own', () => {
    const g = gate(settings({ trunkSources: [parseTrunkSource('127.0.0.1'), parseTrunkSource('127.0.0.8/30=6')] }));
    for (let i = 0; i < 1000; i++) expect(g.check(from('127.0.0.1'), i).pass).toBe(true);
    for (let i = 0; i < 6; i++) expect(g.check(from('127.0.0.9'), i).pass).toBe(true);
    expect(g.check(from('127.0.0.9'), 7)).toMatchObject({ pass: false, reason: 'rate-limited' });
  });

  it('checks a banned source before reading its headers', () => {
    const g = gate();
    for (let i = 0; i < 4; i++) g.check(from('127.0.0.3'), i);
    let read = 0;
    g.check({ sourceAddress: '127.0.0.3', header: () => (read++, undefined) }, 10);
    expect(read).toBe(0);
  });

  it('tracks at most maxSources addresses, forgetting the least recently seen', () => {
    const g = gate(settings({}, { maxSources: 10 }));
    for (let i = 0; i < 4; i++) g.check(from('127.0.1.1'), i); // banned
    for (let n = 0; n < 10; n++) g.check(from(`127.0.2.${n}`), 10);
    expect(g.bannedSources).toBe(0);
    expect(g.check(from('127.0.1.1'), 20)).toEqual({ pass: true });
  });

  it('limit 0 turns the rate limit off', () => {
    const g = gate(settings({}, { limit: 0 }));
    for (let i = 0; i < 100; i++) expect(g.check(from('127.0.0.3'), i).pass).toBe(true);
  });
});

describe('trunk source entries', () => {
  it('read "cidr" as unlimited and "cidr=N" as N per window', () => {
    expect(parseTrunkSource('203.0.113.0/24')).toEqual({ cidr: '203.0.113.0/24', limit: null });
    expect(parseTrunkSource(' 198.51.100.7=200 ')).toEqual({ cidr: '198.51.100.7', limit: 200 });
  });

  it.each(['carrier.example', '10.0.0.0/8=0', '10.0.0.1=lots', '10.0.0.1=5=6'])('refuse %s with the reason', (entry) => {
    expect(() => parseTrunkSource(entry)).toThrow(/not an IP|whole number|more than one/);
  });
});

describe('start-up check of the trunk ACL against the named trunks', () => {
  it('names the allowed ranges that would be rate limited', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const { rateLimitedTrunkEntries } = await import('../../src/calls/handler.js');
    const config = loadConfig({ files: ['config/default.json'], overrides: { trunk: { inboundAllow: ['127.0.0.1/32', '198.51.100.0/24', '203.0.113.9'] }, defences: { trunkSources: ['127.0.0.1', '203.0.113.0/28=500'] } } });
    expect(rateLimitedTrunkEntries(config)).toEqual(['198.51.100.0/24']);
  });
});
