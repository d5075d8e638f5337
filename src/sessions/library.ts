/**
 * Contract v2's operations live in Redis as the Functions library `maskbridge`
 * (src/sessions/library.lua and the parts appended to it; docs/redis-contract.md). Functions are named, persisted and
 * replicated: loaded once, they survive a restart and a failover, and any language calls them
 * with FCALL. maskbridge loads the library at start (and `maskbridge contract load` does), only
 * when Redis holds another version, so loading is idempotent.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getCountries, getCountryCallingCode } from 'libphonenumber-js';
import type { Redis } from './redis.js';

export const LIBRARY_NAME = 'maskbridge';

/** Calling codes outside any country (international freephone, satellite, networks). */
const NON_GEOGRAPHIC = ['800', '808', '870', '878', '881', '882', '883', '888', '979'];

let source: string | undefined;

/** The library's Lua source, with the table of E.164 country calling codes filled in. */
export function librarySource(): string {
  if (source === undefined) {
    // One library in four files (each small enough to read): the others use the first's helpers.
    const lua = ['./library.lua', './library-pools.lua', './library-calls.lua', './library-parties.lua'].map((f) => readFileSync(new URL(f, import.meta.url), 'utf8')).join('\n');
    const codes = [...new Set([...getCountries().map((c) => getCountryCallingCode(c)), ...NON_GEOGRAPHIC])].sort();
    const digest = createHash('sha256').update(lua).digest('hex').slice(0, 12);
    source = lua.replace('--[[CC]]', codes.map((c) => `['${c}'] = true`).join(', ')).replace('--[[DIGEST]]', digest);
  }
  return source;
}

/** The version the library declares (`FCALL_RO mb_version 0` answers it). */
export function libraryVersion(): string {
  const m = /^local VERSION = '([^']+)'/m.exec(librarySource());
  if (!m) throw new Error('library.lua declares no VERSION');
  return m[1] as string;
}

export type LoadOutcome = 'loaded' | 'replaced' | 'current';

/** Loads the library unless Redis already has this version. Throws what Redis answers otherwise. */
export async function loadLibrary(redis: Redis): Promise<LoadOutcome> {
  let loaded: string | null = null;
  try {
    loaded = String(await redis.sendCommand(['FCALL_RO', 'mb_version', '0']));
  } catch (err) {
    if (!/function not found/i.test((err as Error).message)) throw err;
  }
  if (loaded === libraryVersion()) return 'current';
  await redis.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', librarySource()]);
  return loaded === null ? 'loaded' : 'replaced';
}

/**
 * FCALL, loading the library first if Redis does not have it (a Redis restarted without
 * persistence, or flushed with FUNCTION FLUSH), then once more.
 */
export async function fcall(redis: Redis, fn: string, keys: string[], args: string[]): Promise<unknown> {
  const command = [fn === 'mb_sessions' ? 'FCALL_RO' : 'FCALL', fn, String(keys.length), ...keys, ...args];
  try {
    return await redis.sendCommand(command);
  } catch (err) {
    if (!/function not found/i.test((err as Error).message)) throw err;
    await loadLibrary(redis);
    return redis.sendCommand(command);
  }
}
