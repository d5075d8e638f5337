/** Per-instance spool paths (src/spool/instance-dir.ts) and a spool that keeps its finished segments (orphan replay). */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { cdrCodec } from '../../src/cdr/cdr.js';
import { loadConfig } from '../../src/config/load.js';
import { instanceLayout, spoolPathFor } from '../../src/spool/instance-dir.js';
import { Spool } from '../../src/spool/spool.js';
import { cdr, writeSpool } from '../helpers/cdr.js';

describe('per-instance spool paths', () => {
  it('puts {instance} as a directory under the shared root; a path without it is used as it is', () => {
    expect(instanceLayout('cdr.spoolFile', '/var/lib/maskbridge/spool/{instance}/cdr-spool.jsonl')).toEqual({ root: '/var/lib/maskbridge/spool', rest: 'cdr-spool.jsonl' });
    expect(spoolPathFor('cdr.spoolFile', '/var/lib/maskbridge/spool/{instance}/cdr-spool.jsonl', 'a1b2c3d4e5f6-1')).toBe('/var/lib/maskbridge/spool/a1b2c3d4e5f6-1/cdr-spool.jsonl');
    expect(spoolPathFor('cdr.spoolFile', 'var/{instance}/x/cdr.jsonl', 'host-42')).toBe('var/host-42/x/cdr.jsonl');
    expect(instanceLayout('cdr.spoolFile', '/var/lib/maskbridge/cdr-spool.jsonl')).toBeNull();
    expect(spoolPathFor('cdr.spoolFile', '/var/lib/maskbridge/cdr-spool.jsonl', 'any/thing')).toBe('/var/lib/maskbridge/cdr-spool.jsonl');
  });

  it('refuses a token that is not a whole directory name, twice, or without a root, naming the key', () => {
    expect(() => instanceLayout('cdr.spoolFile', '/spool/cdr-{instance}.jsonl')).toThrow('cdr.spoolFile: "/spool/cdr-{instance}.jsonl": {instance} must be a whole directory name');
    expect(() => instanceLayout('webhooks.spoolFile', '/s/{instance}/{instance}/e.jsonl')).toThrow('webhooks.spoolFile: "/s/{instance}/{instance}/e.jsonl" holds {instance} more than once');
    expect(() => instanceLayout('cdr.spoolFile', '{instance}/cdr.jsonl')).toThrow('needs a directory before it');
    expect(() => instanceLayout('cdr.spoolFile', '/spool/{instance}')).toThrow('needs a directory before it');
  });

  it('refuses an instance id that cannot name a directory', () => {
    for (const id of ['../etc', '.hidden', 'a/b', '', 'x'.repeat(129)]) {
      expect(() => spoolPathFor('cdr.spoolFile', '/spool/{instance}/cdr.jsonl', id)).toThrow('cannot name a spool directory');
    }
  });

  it('the config loader refuses a misplaced token, at start', () => {
    expect(() => loadConfig({ overrides: { cdr: { spoolFile: '/spool/cdr-{instance}.jsonl' } } })).toThrow('invalid configuration: cdr.spoolFile:');
    expect(loadConfig({ overrides: { cdr: { spoolFile: '/spool/{instance}/cdr.jsonl' } } }).spool).toEqual({ orphanGraceSec: 300, orphanScanSec: 30 });
  });
});

describe('a spool that keeps its finished segments', () => {
  const opts = { segmentBytes: 1 << 20, fsync: false, syncMs: 0, checkpointMs: 1, retryMs: 10, maxQueued: 100 };

  for (const keepFinished of [true, false]) {
    it(`keepFinished ${keepFinished}: the checkpoint moves past what is committed; the segment ${keepFinished ? 'stays' : 'is deleted'}`, async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'mb-keep-')), 'cdr.jsonl');
      writeSpool(file, [cdr(1), cdr(2)]); // an earlier version's file: taken over as segment 1
      const spool = new Spool(file, cdrCodec, { ...opts, keepFinished }, pino({ level: 'silent' }));
      expect((await spool.peek(10)).length).toBe(2);
      spool.commit(2);
      expect(await spool.peek(10)).toEqual([]);
      await spool.close(100);
      expect(existsSync(`${file}.0000000001`)).toBe(keepFinished);
      expect(JSON.parse(readFileSync(`${file}.checkpoint`, 'utf8'))).toEqual({ segment: 2, offset: 0 });
      // Opened again (keeping or not), nothing is left to read.
      const again = new Spool(file, cdrCodec, { ...opts, keepFinished }, pino({ level: 'silent' }));
      expect(await again.peek(10)).toEqual([]);
      await again.close(100);
      expect(existsSync(`${file}.0000000001`)).toBe(keepFinished);
    });
  }
});

describe('media.eslAdvertiseAddress auto', () => {
  const nics = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '', cidr: '127.0.0.1/8' }],
    eth0: [
      { address: 'fe80::1', family: 'IPv6', internal: false, netmask: 'ffff::', mac: '', cidr: 'fe80::1/64', scopeid: 2 },
      { address: '172.30.0.131', family: 'IPv4', internal: false, netmask: '255.255.255.0', mac: '', cidr: '172.30.0.131/24' },
    ],
  } as const;
  it('is this host\'s own IPv4 address with a wildcard listen address, the listen address otherwise; other values as they are', async () => {
    const { eslAdvertiseAddress } = await import('../../src/media/advertise.js');
    const copy = JSON.parse(JSON.stringify(nics)) as Parameters<typeof eslAdvertiseAddress>[2];
    expect(eslAdvertiseAddress('auto', '0.0.0.0', copy)).toBe('172.30.0.131');
    expect(eslAdvertiseAddress('auto', '10.0.0.5', copy)).toBe('10.0.0.5');
    expect(eslAdvertiseAddress('', '0.0.0.0', copy)).toBe('');
    expect(eslAdvertiseAddress('mb.internal', '0.0.0.0', copy)).toBe('mb.internal');
    expect(() => eslAdvertiseAddress('auto', '0.0.0.0', { lo: copy.lo })).toThrow('no IPv4 address outside loopback');
  });
});
