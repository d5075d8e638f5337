import { existsSync } from 'node:fs';
import { BlockList, isIPv6 } from 'node:net';
import convict from 'convict';
import { schema } from './schema.js';
import { resolveConfig, type RawConfig } from './resolve.js';
import type { AppConfig } from './types.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadOptions {
  /** Environment to read: process.env in production, a literal in tests. Never read implicitly. */
  env?: Record<string, string | undefined>;
  /** JSON files applied in order after the schema defaults. */
  files?: string[];
  /** Values applied last (tests, CLI flags). */
  overrides?: Record<string, unknown>;
}

/**
 * Builds the typed config. Order: schema defaults < files < environment < overrides.
 * Any invalid value throws ConfigError whose message names the key and the value.
 */
export function loadConfig(opts: LoadOptions = {}): AppConfig {
  try {
    const config = convict(schema, { env: stringEnv(opts.env ?? {}), args: [] });
    for (const file of opts.files ?? []) {
      if (!existsSync(file)) throw new Error(`config file not found: ${file}`);
      config.loadFile(file);
    }
    if (opts.overrides) config.load(opts.overrides);
    config.validate({ allowed: 'strict' });
    const resolved = resolveConfig(config.getProperties() as unknown as RawConfig);
    checkApiToken(resolved.api);
    return resolved;
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`);
  }
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (also written out in full, in brackets or IPv4-mapped) and "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost' || h === 'localhost.') return true;
  return loopback.check(h, isIPv6(h) ? 'ipv6' : 'ipv4');
}

/** The API without a token is open to whoever reaches the port: allowed on loopback only. */
function checkApiToken(api: AppConfig['api']): void {
  if (api.enabled && api.token.trim() === '' && !isLoopbackHost(api.host)) {
    throw new Error(
      `api.token: must be set when the API listens on ${JSON.stringify(api.host)} (api.host is not a loopback address): `
      + 'without a token anyone who can reach the port can create, read and close sessions. '
      + 'Set api.token (MB_API_TOKEN), bind api.host to 127.0.0.1, or set api.enabled=false',
    );
  }
}

function stringEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  // convict falls back to process.env when given an empty object's falsy twin; keep one key.
  out.__MASKBRIDGE_ENV__ = '1';
  return out;
}

/** Config files: MASKBRIDGE_CONFIG (comma separated) or config/default.json when present. */
export function configFilesFromEnv(env: Record<string, string | undefined>): string[] {
  const named = env.MASKBRIDGE_CONFIG;
  if (named) return named.split(',').map((f) => f.trim()).filter(Boolean);
  return existsSync('config/default.json') ? ['config/default.json'] : [];
}
