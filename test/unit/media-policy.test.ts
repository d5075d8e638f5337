import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMediaServers } from '../../src/media/fsmrf.js';
import { readWavInfo, recordingPaths } from '../../src/media/recording.js';
import { pickLeastLoaded, whenNoMediaServer } from '../../src/policy/media.js';
import { wavBytes } from '../helpers/fake-media.js';

const load = (name: string, o: Partial<{ healthy: boolean; active: number; currentSessions: number; maxSessions: number; cpuIdle: number }>) => ({
  name, healthy: true, active: 0, currentSessions: 0, maxSessions: 0, cpuIdle: 50, ...o,
});

describe('pickLeastLoaded', () => {
  it('picks the healthy server with the fewest of our channels', () => {
    expect(pickLeastLoaded([load('a', { active: 5 }), load('b', { active: 2 }), load('c', { active: 1, healthy: false })])?.name).toBe('b');
  });
  it('breaks ties on idle CPU', () => {
    expect(pickLeastLoaded([load('a', { active: 1, cpuIdle: 20 }), load('b', { active: 1, cpuIdle: 80 })])?.name).toBe('b');
  });
  it('skips a full server and returns null when none can take a call', () => {
    expect(pickLeastLoaded([load('a', { currentSessions: 10, maxSessions: 10 }), load('b', { healthy: false })])).toBeNull();
    expect(pickLeastLoaded([])).toBeNull();
  });
});

describe('whenNoMediaServer', () => {
  it('rejects under "reject"', () => {
    expect(whenNoMediaServer('reject', undefined)).toMatchObject({ action: 'reject', status: 503 });
  });
  it('falls back under "signalling-only" unless the session requires recording', () => {
    expect(whenNoMediaServer('signalling-only', undefined)).toEqual({ action: 'signalling-only' });
    expect(whenNoMediaServer('signalling-only', false)).toEqual({ action: 'signalling-only' });
    expect(whenNoMediaServer('signalling-only', true)).toMatchObject({ action: 'reject', status: 503 });
  });
});

describe('recording files', () => {
  it('lays recordings out by UTC date, session and call, with a partial name while written', () => {
    const p = recordingPaths('/rec', new Date('2026-03-04T23:30:00Z'), 'order-1', 'abc@10.0.0.1');
    expect(p).toEqual({ partial: '/rec/2026/03/04/order-1/abc_10.0.0.1.partial.wav', final: '/rec/2026/03/04/order-1/abc_10.0.0.1.wav' });
  });
  it('never lets a Call-ID or session id escape the directory', () => {
    const p = recordingPaths('/rec', new Date('2026-03-04T00:00:00Z'), '../../etc', '../x/../../y');
    expect(p.final.startsWith('/rec/2026/03/04/')).toBe(true);
    expect(p.final.split('/').filter((seg) => seg === '..')).toHaveLength(0);
  });
  it('reads channels and duration from a WAV header', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'mb-wav-')), 'a.wav');
    writeFileSync(f, wavBytes(1.5));
    expect(readWavInfo(f)).toMatchObject({ channels: 2, sampleRate: 8000, durationSec: 1.5 });
  });
  it('refuses a file that is not a WAV', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'mb-wav-')), 'a.wav');
    writeFileSync(f, 'hello world, not audio at all');
    expect(() => readWavInfo(f)).toThrow(/not a WAV/);
  });
});

describe('media.servers entries', () => {
  it('parses host:port:secret', () => {
    expect(parseMediaServers(['fs1:8021:ClueCon', '127.0.0.1:8022:a:b'])).toEqual([
      { host: 'fs1', port: 8021, secret: 'ClueCon' },
      { host: '127.0.0.1', port: 8022, secret: 'a:b' },
    ]);
  });
  it.each(['fs1', 'fs1:port:x', 'fs1:8021:'])('refuses %j without echoing a secret', (entry) => {
    expect(() => parseMediaServers([entry])).toThrow(/host:port:secret/);
  });
});
