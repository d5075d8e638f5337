import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const load = (env: Record<string, string>) => loadConfig({ env, files: ['config/default.json'] });

describe('media.mode', () => {
  it('anchors media by default once a media server is configured', () => {
    expect(load({ MB_MEDIA_SERVERS: '127.0.0.1:8021:secret' }).media.mode).toBe('anchor');
  });

  it('is signalling-only by default when no media server is configured', () => {
    expect(load({}).media.mode).toBe('none');
  });

  it('stays what is asked for explicitly', () => {
    expect(load({ MB_MEDIA_MODE: 'none', MB_MEDIA_SERVERS: '127.0.0.1:8021:secret' }).media.mode).toBe('none');
  });

  it('refuses "anchor" without a media server, naming media.servers', () => {
    expect(() => load({ MB_MEDIA_MODE: 'anchor' })).toThrow(ConfigError);
    expect(() => load({ MB_MEDIA_MODE: 'anchor' })).toThrow(/media\.servers/);
  });
});

describe('calls.callIdKey', () => {
  it('is read from the environment', () => {
    const c = load({ MB_CALLS_CALL_ID_KEY: 'k'.repeat(32) });
    expect(c.calls.callIdKey).toBe('k'.repeat(32));
  });
});

describe('treatment statuses', () => {
  it('accepts only statuses the SIP stack can send, naming the key', () => {
    expect(() => load({ MB_CALLS_UNKNOWN_STATUS: '499' })).toThrow(/calls\.unknownCaller\.status.*499 is not a status drachtio-srf can send/);
    expect(() => load({ MB_CALLS_CLOSED_STATUS: '607' })).toThrow(/calls\.closedSession\.status/);
    expect(load({ MB_CALLS_UNKNOWN_STATUS: '480' }).calls.unknownCaller.status).toBe(480);
  });
});

describe('maskbridge call-id', () => {
  it('prints the id CDRs and logs carry for a Call-ID, with the configured key', async () => {
    const { runCli } = await import('../../src/cli/cli.js');
    const { callIdHasher } = await import('../../src/calls/call-id.js');
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const env = { MASKBRIDGE_CONFIG: 'config/default.json', MB_CALLS_CALL_ID_KEY: 'a-long-random-key' };
    expect(await runCli(['call-id', '919812341234-abc@carrier'], env, io)).toBe(0);
    expect(out).toEqual([callIdHasher('a-long-random-key')('919812341234-abc@carrier')]);
    expect(await runCli(['call-id', 'x'], { MASKBRIDGE_CONFIG: 'config/default.json' }, io)).toBe(2);
    expect(err.join('\n')).toContain('calls.callIdKey is not set');
  });
});
