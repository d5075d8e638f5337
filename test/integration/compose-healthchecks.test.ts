/**
 * The healthchecks of the Compose services drachtio and freeswitch, run against those services
 * as the e2e suite starts them (support/compose.ts): maskbridge starts only once they pass
 * (depends_on: service_healthy), so one that cannot pass keeps the whole stack down.
 * Remapped like everything else: the service's environment (remapped) is the check's, the
 * image's fs_cli is this host's (next to MB_E2E_FREESWITCH_BIN), and drachtio's admin port in
 * `/dev/tcp/127.0.0.1/PORT` is the started one. Skipped, saying so, without the binaries.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRecord } from '../e2e/support/compose-file.js';
import { ServiceRemapper, testStack } from '../e2e/support/compose.js';
import { drachtioContainerPorts } from '../e2e/support/compose-services.js';
import { resolveFreeswitch, type FreeswitchTarget } from '../e2e/support/freeswitch.js';
import { resolveDrachtio, type DrachtioTarget } from '../e2e/support/servers.js';

// Servers this file starts itself, whatever running ones the environment names.
const env: NodeJS.ProcessEnv = { ...process.env, MB_E2E_DRACHTIO_ADMIN: undefined, MB_E2E_FREESWITCH: undefined };
const drachtio = resolveDrachtio(env);
const freeswitch = resolveFreeswitch(env);
const fsCli = env.MB_E2E_FREESWITCH_BIN ? join(dirname(env.MB_E2E_FREESWITCH_BIN), 'fs_cli') : null;
if (!drachtio.ok) console.warn(`[compose] drachtio healthcheck skipped: ${drachtio.reason}`);
if (!freeswitch.ok || !fsCli || !existsSync(fsCli)) console.warn('[compose] freeswitch healthcheck skipped: set MB_E2E_FREESWITCH_BIN (with fs_cli next to it)');

const stack = testStack();
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

function healthcheck(service: string): string {
  const hc = stack.services[service]?.raw.healthcheck;
  if (!isRecord(hc) || !Array.isArray(hc.test) || hc.test[0] !== 'CMD-SHELL') throw new Error(`service ${service}: no CMD-SHELL healthcheck`);
  // Compose turns $$ into $ before the container's shell sees it.
  return String(hc.test[1]).replace(/\$\$/g, '$');
}

function run(command: string, shellEnv: Record<string, string>): number | null {
  return spawnSync('sh', ['-c', command], { env: { PATH: process.env.PATH ?? '', ...shellEnv }, timeout: 15_000 }).status;
}

describe.skipIf(!drachtio.ok)('drachtio healthcheck', () => {
  it('passes against the started service, and fails once it is gone', async () => {
    if (!drachtio.ok) return;
    const target: DrachtioTarget = await drachtio.start(mkdtempSync(join(tmpdir(), 'mb-hc-')));
    stops.push(() => target.stop());
    const admin = drachtioContainerPorts(stack).admin;
    const check = healthcheck('drachtio');
    expect(check).toContain(`/127.0.0.1/${admin}`);
    const here = check.replace(`/127.0.0.1/${admin}`, `/127.0.0.1/${target.admin.port}`);
    expect(run(here, {})).toBe(0);
    await target.stop();
    expect(run(here, {})).not.toBe(0);
  }, 60_000);
});

describe.skipIf(!freeswitch.ok || !fsCli || !existsSync(fsCli))('freeswitch healthcheck', () => {
  it("passes against the started service with the service's environment, and fails with another password", async () => {
    if (!freeswitch.ok || !fsCli) return;
    const dir = mkdtempSync(join(tmpdir(), 'mb-hc-'));
    const target: FreeswitchTarget = await freeswitch.start(dir);
    stops.push(() => target.stop());
    const check = healthcheck('freeswitch');
    expect(check).toContain('/usr/local/freeswitch/bin/fs_cli ');
    const here = check.replace('/usr/local/freeswitch/bin/fs_cli ', `${fsCli} `);
    // The check reads the service's own variables: the same remapping gives the started port.
    const r = ServiceRemapper.for(stack, 'freeswitch', join(dir, 'hc'));
    r.ports.set(Number(stack.services.freeswitch?.environment.MB_FS_ESL_PORT), target.esl.port);
    const serviceEnv = await r.env();
    expect(serviceEnv.MB_FS_ESL_PORT).toBe(String(target.esl.port));
    expect(run(here, serviceEnv)).toBe(0);
    expect(run(here, { ...serviceEnv, MB_FS_ESL_PASSWORD: 'wrong-password' })).not.toBe(0);
  }, 90_000);
});
