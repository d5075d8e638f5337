/**
 * docker-compose (Debian 12's 1.29, which scripts/install-deps.sh installs) validates
 * docker/docker-compose.yml: it takes the file with the required variables set, refuses it
 * naming each one unset, and interpolates it as the suite's reader does (what the e2e suite
 * runs is what Compose runs). Skipped, saying so, only where docker-compose is absent and
 * cannot be installed (not root, or no apt-get).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readCompose } from '../e2e/support/compose-file.js';
import { TEST_COMPOSE_ENV } from '../e2e/support/compose.js';
import { onPath } from '../e2e/support/servers.js';

const REQUIRED = ['PUBLIC_IP', 'TRUNK_CIDRS', 'OUTBOUND_GATEWAY', 'DRACHTIO_SECRET', 'FS_ESL_PASSWORD', 'API_TOKEN', 'REDIS_MASKBRIDGE_PASSWORD', 'REDIS_BACKEND_PASSWORD'];
const bin = onPath('docker-compose');
const canInstall = process.getuid?.() === 0 && onPath('apt-get') !== null;
const skip = bin === null && !canInstall;
if (skip) console.warn('[compose] docker-compose checks skipped: docker-compose is not installed and this user cannot install it (apt-get install docker-compose)');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One docker-compose run (about 2 s of Python start-up each, so runs go in parallel). */
function dockerCompose(env: Record<string, string | undefined>, ...args: string[]): Promise<Run> {
  return dockerComposeFile('docker/docker-compose.yml', env, ...args);
}

function dockerComposeFile(file: string, env: Record<string, string | undefined>, ...args: string[]): Promise<Run> {
  if (!bin) throw new Error('docker-compose is not installed: run scripts/install-deps.sh as root (it installs the Debian package)');
  const dir = mkdtempSync(join(tmpdir(), 'mb-compose-cli-'));
  const envFile = join(dir, 'env');
  writeFileSync(envFile, Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}\n`).join(''));
  // Only what the file says: no variable from this shell, no docker/.env of this checkout.
  return new Promise((resolve) => {
    execFile(bin, ['--env-file', envFile, '-f', file, ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: dir },
      timeout: 60_000,
    }, (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

describe.skipIf(skip)('docker-compose validates docker/docker-compose.yml', () => {
  it('takes the file with the required variables set', async () => {
    const r = await dockerCompose(TEST_COMPOSE_ENV, 'config', '--quiet');
    expect(r.status, r.stderr).toBe(0);
  }, 90_000);

  it('refuses it, naming the variable, while a required one is unset (and one empty)', async () => {
    const cases: Array<[string, string | undefined]> = [...REQUIRED.map((n): [string, undefined] => [n, undefined]), ['API_TOKEN', '']];
    const runs = await Promise.all(cases.map(([name, value]) => dockerCompose({ ...TEST_COMPOSE_ENV, [name]: value }, 'config', '--quiet')));
    for (const [i, [name, value]] of cases.entries()) {
      expect(runs[i]?.status, `${name}=${String(value)}`).not.toBe(0);
      expect(runs[i]?.stderr, name).toContain(`set ${name} in docker/.env`);
    }
  }, 120_000);

  it("interpolates it as the suite's reader does: same commands, environments and mounts", async () => {
    const r = await dockerCompose(TEST_COMPOSE_ENV, 'config');
    expect(r.status, r.stderr).toBe(0);
    const theirs = (parse(r.stdout) as { services: Record<string, Record<string, unknown>> }).services;
    const ours = readCompose(TEST_COMPOSE_ENV).services;
    expect(Object.keys(theirs).sort()).toEqual(Object.keys(ours).sort());
    for (const [name, s] of Object.entries(ours)) {
      expect(theirs[name]?.entrypoint ?? null, `${name} entrypoint`).toEqual(s.entrypoint);
      expect(theirs[name]?.command ?? null, `${name} command`).toEqual(s.command);
      expect(theirs[name]?.environment ?? {}, `${name} environment`).toEqual(s.environment);
      const volumes = (theirs[name]?.volumes as string[] | undefined) ?? [];
      expect(volumes, `${name} volumes`).toEqual(s.volumes.map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ':rw'}`));
    }
  }, 90_000);

  it('also takes the e2e testbed file (test/e2e/docker-compose.testbed.yml)', async () => {
    const env = { MB_E2E_RECORDINGS_DIR: '/tmp/recordings', MB_E2E_DRACHTIO_SECRET: 'a', MB_E2E_ESL_PASSWORD: 'b' };
    const r = await dockerComposeFile('test/e2e/docker-compose.testbed.yml', env, 'config', '--quiet');
    expect(r.status, r.stderr).toBe(0);
  }, 90_000);
});
