import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';

describe('config', () => {
  it('loads the defaults and the shipped files', () => {
    const c = loadConfig({ files: ['config/default.json', 'config/test.json'] });
    expect(c.redis.keyPrefix).toBe('mbtest:');
    expect(c.calls.unknownCaller).toEqual({ status: 404, reason: 'No Active Session', announcement: '' });
  });

  it('validates the production example', () => {
    expect(() => loadConfig({ files: ['config/production.example.json'] })).not.toThrow();
  });

  it('reads values from the environment it is given, not from process.env', () => {
    const c = loadConfig({ env: { MB_TRUNK_INBOUND_ALLOW: '10.0.0.0/8, 192.0.2.7', MB_CALLS_RING_TIMEOUT_SEC: '12', MB_LOG_REDACT_NUMBERS: 'false' } });
    expect(c.trunk.inboundAllow).toEqual(['10.0.0.0/8', '192.0.2.7']);
    expect(c.calls.ringTimeoutSec).toBe(12);
    expect(c.log.redactNumbers).toBe(false);
  });

  it.each([
    [{ MB_TRUNK_INBOUND_ALLOW: '10.0.0.0/99' }, 'trunk.inboundAllow', '10.0.0.0/99'],
    [{ MB_TRUNK_INBOUND_ALLOW: 'carrier.example' }, 'trunk.inboundAllow', 'carrier.example'],
    [{ MB_CALLS_UNKNOWN_STATUS: '200' }, 'calls.unknownCaller.status', '200'],
    [{ MB_REDIS_COMMAND_TIMEOUT_MS: 'soon' }, 'redis.commandTimeoutMs', 'soon'],
    [{ MB_API_PORT: '99999' }, 'api.port', '99999'],
    [{ MB_LOG_REDACT_NUMBERS: 'maybe' }, 'log.redactNumbers', 'maybe'],
    [{ MB_MEDIA_MODE: 'loud' }, 'media.mode', 'loud'],
    [{ MB_NUMBERS_DEFAULT_REGION: 'india' }, 'numbers.defaultRegion', 'india'],
    [{ MB_CDR_DEDUPE_RETENTION_SEC: '60' }, 'cdr.dedupeRetentionSec', '60'],
    [{ MB_TRUNK_OUTBOUND_GATEWAY: 'no-port' }, 'trunk.outbound.gateway', 'no-port'],
    [{ MB_LOG_LEVEL: 'chatty' }, 'log.level', 'chatty'],
    [{ MB_LOG_BUFFER_BYTES: '65536' }, 'log.bufferBytes', '65536'],
    [{ MB_LOG_BUFFER_BYTES: 'lots' }, 'log.bufferBytes', 'lots'],
    [{ MB_DEFENCES_TRUNK_SOURCES: '127.0.0.1,carrier.example=50' }, 'defences.trunkSources', 'carrier.example'],
    [{ MB_DEFENCES_TRUNK_SOURCES: '10.0.0.1=0' }, 'defences.trunkSources', '10.0.0.1=0'],
    [{ MB_DEFENCES_RATE_STATUS: '200' }, 'defences.rateLimit.status', '200'],
    [{ MB_HOOKS_INTERCEPT_URL: 'ftp://hooks.example/intercept' }, 'hooks.intercept.url', 'ftp://hooks.example/intercept'],
    [{ MB_HOOKS_OUT_OF_SESSION_URL: 'not a url' }, 'hooks.outOfSession.url', 'not a url'],
    [{ MB_HOOKS_INTERCEPT_TIMEOUT_MS: '0' }, 'hooks.intercept.timeoutMs', '0'],
    [{ MB_HOOKS_OUT_OF_SESSION_TIMEOUT_MS: '60000' }, 'hooks.outOfSession.timeoutMs', '60000'],
    [{ MB_HOOKS_INTERCEPT_FAIL_POLICY: 'maybe' }, 'hooks.intercept.failPolicy', 'maybe'],
    [{ MB_HOOKS_OUT_OF_SESSION_FAIL_STATUS: '200' }, 'hooks.outOfSession.failStatus', '200'],
    [{ MB_WEBHOOKS_DEFAULT_URL: 'ftp://hooks.example/x' }, 'webhooks.defaultUrl', 'ftp://hooks.example/x'],
    [{ MB_WEBHOOKS_DEFAULT_URL: 'hooks.example' }, 'webhooks.defaultUrl', 'hooks.example'],
    [{ MB_WEBHOOKS_MAX_ATTEMPTS: 'none' }, 'webhooks.maxAttempts', 'none'],
    [{ MB_WEBHOOKS_CONCURRENCY: 'many' }, 'webhooks.concurrency', 'many'],
    [{ MB_MEDIA_KEEP_ALIVE_MS: '0.5' }, 'media.keepAliveMs', '0.5'],
    [{ MB_MEDIA_KEEP_ALIVE_TIMEOUT_MS: 'soon' }, 'media.keepAliveTimeoutMs', 'soon'],
    [{ MB_MEDIA_DEAD_AFTER_MS: '-1' }, 'media.deadAfterMs', '-1'],
  ])('refuses %j, naming the key and the value', (env, key, value) => {
    let error: unknown;
    try {
      loadConfig({ env });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(key);
    expect((error as Error).message).toContain(value);
  });

  it('refuses a malformed media server entry without echoing its secret', () => {
    let message = '';
    try {
      loadConfig({ env: { MB_MEDIA_SERVERS: 'fs1:80x:s3cr3t-pw' } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('media.servers');
    expect(message).not.toContain('s3cr3t-pw');
  });

  it.each(['0.0.0.0', '::', '10.0.0.5', '192.0.2.7', 'maskbridge.internal', '128.0.0.1'])(
    'refuses an enabled API on %s without api.token, naming the key and why',
    (host) => {
      let message = '';
      try {
        loadConfig({ env: { MB_API_HOST: host } });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message).toContain('api.token');
      expect(message).toContain('not a loopback address');
      expect(message).toContain(host);
    },
  );

  it.each(['127.0.0.1', '127.8.9.10', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST'])(
    'allows an API on loopback %s without a token',
    (host) => {
      expect(loadConfig({ env: { MB_API_HOST: host } }).api.host).toBe(host);
    },
  );

  it('allows a non-loopback API with a token, or a disabled one without', () => {
    expect(loadConfig({ env: { MB_API_HOST: '0.0.0.0', MB_API_TOKEN: 's3cret' } }).api.token).toBe('s3cret');
    expect(loadConfig({ env: { MB_API_HOST: '0.0.0.0', MB_API_ENABLED: 'false' } }).api.enabled).toBe(false);
    expect(() => loadConfig({ env: { MB_API_HOST: '0.0.0.0', MB_API_TOKEN: '   ' } })).toThrow(/api\.token/);
  });

  it('reads the hooks from the environment: off by default, intercept fails closed, out-of-session fails open', () => {
    expect(loadConfig({}).hooks).toEqual({
      secret: '',
      intercept: { url: '', timeoutMs: 1000, failPolicy: 'closed', failStatus: 503 },
      outOfSession: { url: '', timeoutMs: 1000, failPolicy: 'open', failStatus: 503 },
    });
    const c = loadConfig({ env: {
      MB_HOOKS_SECRET: 'hook-secret', MB_HOOKS_INTERCEPT_URL: 'https://backend.example/hooks/intercept', MB_HOOKS_INTERCEPT_TIMEOUT_MS: '300',
      MB_HOOKS_INTERCEPT_FAIL_POLICY: 'open', MB_HOOKS_OUT_OF_SESSION_URL: 'http://127.0.0.1:9000/oos', MB_HOOKS_OUT_OF_SESSION_FAIL_STATUS: '480',
    } });
    expect(c.hooks.intercept).toEqual({ url: 'https://backend.example/hooks/intercept', timeoutMs: 300, failPolicy: 'open', failStatus: 503 });
    expect(c.hooks.outOfSession).toMatchObject({ url: 'http://127.0.0.1:9000/oos', failStatus: 480 });
  });

  it('refuses a hook URL without hooks.secret, and credentials in a hook URL without echoing them', () => {
    expect(() => loadConfig({ env: { MB_HOOKS_INTERCEPT_URL: 'https://backend.example/i' } })).toThrow(/hooks\.secret: must be set/);
    expect(() => loadConfig({ env: { MB_HOOKS_OUT_OF_SESSION_URL: 'https://backend.example/o', MB_HOOKS_SECRET: ' ' } })).toThrow(/hooks\.secret/);
    let message = '';
    try {
      loadConfig({ env: { MB_HOOKS_SECRET: 'k', MB_HOOKS_INTERCEPT_URL: 'https://user:pw@backend.example/i' } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('hooks.intercept.url');
    expect(message).toContain('must not carry credentials');
  });

  it('reads the webhooks keys, and requires a secret when enabled and a claim idle time well above the delivery timeout', () => {
    const c = loadConfig({ env: { MB_WEBHOOKS_ENABLED: 'true', MB_WEBHOOKS_SECRET: 's', MB_WEBHOOKS_DEFAULT_URL: 'https://hooks.example/mb', MB_WEBHOOKS_DEFAULT_URL_TRUSTED: 'yes' } });
    expect(c.webhooks).toMatchObject({ enabled: true, defaultUrl: 'https://hooks.example/mb', defaultUrlTrusted: true, spoolFile: 'var/events-spool.jsonl', maxAttempts: 20 });
    expect(loadConfig({}).webhooks.enabled).toBe(false);
    expect(() => loadConfig({ env: { MB_WEBHOOKS_ENABLED: 'true' } })).toThrow(/webhooks\.secret/);
    expect(() => loadConfig({ env: { MB_WEBHOOKS_TIMEOUT_MS: '30000' } })).toThrow(/webhooks\.claimMinIdleMs/);
    expect(() => loadConfig({ env: { MB_WEBHOOKS_RETRY_MAX_MS: '10' } })).toThrow(/webhooks\.retryMaxMs/);
  });

  it('reads the media keep-alive timings (1 s, 2 s deadline, dead after 10 s by default) and wants dead-after above one keep-alive round', () => {
    expect(loadConfig({}).media).toMatchObject({ keepAliveMs: 1000, keepAliveTimeoutMs: 2000, deadAfterMs: 10_000 });
    const c = loadConfig({ env: { MB_MEDIA_KEEP_ALIVE_MS: '500', MB_MEDIA_KEEP_ALIVE_TIMEOUT_MS: '750', MB_MEDIA_DEAD_AFTER_MS: '4000' } });
    expect(c.media).toMatchObject({ keepAliveMs: 500, keepAliveTimeoutMs: 750, deadAfterMs: 4000 });
    expect(() => loadConfig({ env: { MB_MEDIA_DEAD_AFTER_MS: '3000' } })).toThrow(/media\.deadAfterMs: 3000 must be more than media\.keepAliveMs \+ media\.keepAliveTimeoutMs \(3000\)/);
    expect(() => loadConfig({ env: { MB_MEDIA_KEEP_ALIVE_MS: '0' } })).toThrow(/media\.keepAliveMs: must be a whole number >= 1/);
    expect(() => loadConfig({ env: { MB_MEDIA_KEEP_ALIVE_TIMEOUT_MS: '10000' } })).toThrow(ConfigError);
    expect(() => loadConfig({ overrides: { media: { keepAliveMs: 9500 } } })).toThrow(/media\.deadAfterMs/);
    expect(loadConfig({ env: { MB_MEDIA_DEAD_AFTER_MS: '3001' } }).media.deadAfterMs).toBe(3001);
  });

  it('refuses unknown keys in a file', () => {
    expect(() => loadConfig({ overrides: { calls: { ringTimeout: 5 } } })).toThrow(/calls.ringTimeout/);
  });

  it('refuses a missing config file by name', () => {
    expect(() => loadConfig({ files: ['config/nope.json'] })).toThrow(/config\/nope.json/);
  });
});

describe('docs/configuration.md', () => {
  it('lists every key of the schema as generated (npx tsx scripts/gen-config-doc.ts)', async () => {
    const { readFileSync } = await import('node:fs');
    const { renderConfigDoc } = await import('../../src/config/doc.js');
    expect(readFileSync('docs/configuration.md', 'utf8')).toContain(renderConfigDoc());
  });
});
