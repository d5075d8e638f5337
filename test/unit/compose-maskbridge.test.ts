/** maskbridge's Compose environment through the real config loader, as in the container and remapped for this host. */
import { mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFilesFromEnv, loadConfig } from '../../src/config/load.js';
import { eslAdvertiseAddress } from '../../src/media/advertise.js';
import { readCompose, readEnvFile } from '../e2e/support/compose-file.js';
import { composeMaskbridgeEnv, composePeers } from '../e2e/support/compose-services.js';

/** docker/.env.example with its empty secrets filled in, as an operator does. */
function filledExample(): Record<string, string> {
  const env = readEnvFile('docker/.env.example');
  for (const [k, v] of Object.entries(env)) if (v === '' && /SECRET|PASSWORD|TOKEN/.test(k)) env[k] = `${k.toLowerCase().replace(/_/g, '-')}-0123456789abcdef`;
  return env;
}

describe("maskbridge's Compose environment", () => {
  const example = filledExample();

  it('loads as the container loads it (config/default.json + the environment), anchored', () => {
    const env = readCompose(example).services.maskbridge!.environment;
    const c = loadConfig({ env, files: configFilesFromEnv(env) });
    expect(c.media.mode).toBe('anchor');
    expect(c.media.servers).toEqual([`freeswitch:8021:${example.FS_ESL_PASSWORD}`]);
    expect(c.drachtio).toMatchObject({ host: 'drachtio', port: 9022, secret: example.DRACHTIO_SECRET });
    expect(c.redis.url).toBe(`redis://maskbridge:${example.REDIS_MASKBRIDGE_PASSWORD}@redis:6379`);
    expect(c.api).toMatchObject({ host: '0.0.0.0', port: 8080, token: example.API_TOKEN });
    expect(c.trunk.inboundAllow).toEqual([example.TRUNK_CIDRS]);
    expect(c.trunk.outbound.gateway).toBe(example.OUTBOUND_GATEWAY);
    expect(c.numbers.defaultRegion).toBe(example.DEFAULT_REGION);
    expect(c.media.recording.dir).toBe('/recordings');
  });

  it('with the sentinel profile\'s settings, follows the sentinels with the data nodes\' credentials', () => {
    const env = readCompose({
      ...example, REDIS_SENTINELS: 'redis-sentinel-1:26379,redis-sentinel-2:26379,redis-sentinel-3:26379', SENTINEL_PASSWORD: 'sentinel-pw', REDIS_WAIT_REPLICAS: '1',
    }).services.maskbridge!.environment;
    const c = loadConfig({ env, files: configFilesFromEnv(env) });
    expect(c.redis).toMatchObject({
      url: `redis://maskbridge:${example.REDIS_MASKBRIDGE_PASSWORD}@redis:6379`, sentinelName: 'mymaster', sentinelPassword: 'sentinel-pw', waitReplicas: 1,
      sentinels: ['redis-sentinel-1:26379', 'redis-sentinel-2:26379', 'redis-sentinel-3:26379'],
    });
  });

  it('remapped for this host: peers where they were started, own ports and paths in the test folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-compose-'));
    const stack = readCompose(example);
    const peers = composePeers(stack, {
      drachtio: { admin: { host: '127.0.0.1', port: 19022 }, sip: { host: '127.0.0.1', port: 15060 } },
      freeswitch: { esl: { host: '127.0.0.1', port: 18021 } },
      redis: { host: '127.0.0.1', port: 16379 },
    });
    const env = await composeMaskbridgeEnv({ dir, peers, ports: { 8080: 18080 }, env: example });
    const c = loadConfig({ env, files: configFilesFromEnv(env) });
    expect(c.media.mode).toBe('anchor');
    expect(c.media.servers).toEqual([`127.0.0.1:18021:${example.FS_ESL_PASSWORD}`]);
    expect(c.drachtio).toMatchObject({ host: '127.0.0.1', port: 19022, secret: example.DRACHTIO_SECRET });
    expect(c.redis.url).toBe(`redis://maskbridge:${example.REDIS_MASKBRIDGE_PASSWORD}@127.0.0.1:16379`);
    expect(c.api).toMatchObject({ host: '127.0.0.1', port: 18080, token: example.API_TOKEN });
    expect(c.media.eslListenAddress).toBe('127.0.0.1');
    // auto: the listen address once it names one (in the container, the replica's own address).
    expect(eslAdvertiseAddress(c.media.eslAdvertiseAddress, c.media.eslListenAddress, networkInterfaces())).toBe('127.0.0.1');
    expect(c.media.eslListenPort).not.toBe(8085);
    expect(c.media.recording.dir).toBe(join(dir, 'recordings'));
    expect(c.cdr.spoolFile).toBe(join(dir, 'spool', 'spool', '{instance}', 'cdr-spool.jsonl'));
    expect(c.webhooks.spoolFile).toBe(join(dir, 'spool', 'spool', '{instance}', 'events-spool.jsonl'));
    expect(c.media.eslAdvertiseAddress).toBe('auto');
    // Not a path, port or address: as Compose gives it.
    expect(c.trunk.inboundAllow).toEqual([example.TRUNK_CIDRS]);
  });

  it('refuses a Compose port the peer does not listen on, naming both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-compose-'));
    const peers = {
      drachtio: { 9022: { host: '127.0.0.1', port: 19022 } },
      freeswitch: { 8022: { host: '127.0.0.1', port: 18021 } },
      redis: { 6379: { host: '127.0.0.1', port: 16379 } },
    };
    await expect(composeMaskbridgeEnv({ dir, peers, env: example })).rejects.toThrow('MB_MEDIA_SERVERS: freeswitch:8021 is no port the freeswitch service listens on (its ports: 8022)');
  });
});
