/** `maskbridge pool ...` and `maskbridge contract load` (src/sessions/pools.ts, library.ts). */
import type { Command } from 'commander';
import { toE164, NumberFormatError } from '../numbers/normalise.js';
import { SessionInputError } from '../sessions/errors.js';
import { libraryVersion, loadLibrary } from '../sessions/library.js';
import type { NumberState, PoolSettings, PoolStore } from '../sessions/pools.js';
import type { Redis } from '../sessions/redis.js';

export interface PoolCommandContext {
  withPools<T>(fn: (pools: PoolStore, region: string, redis: Redis) => Promise<T>): Promise<T>;
  print(value: Record<string, unknown> | Array<Record<string, unknown>>): void;
}

const numbersIn = (list: string[], region: string) => list.map((n) => {
  try {
    return toE164(n, region);
  } catch (err) {
    if (err instanceof NumberFormatError) throw new SessionInputError('numbers', `"${n}" is ${err.message}`);
    throw err;
  }
});

function settingsFrom(o: { select?: string; coolOff?: string; geo?: string; geoFallback?: string }): Partial<PoolSettings> {
  const s: Partial<PoolSettings> = {};
  if (o.select !== undefined) {
    if (o.select !== 'prefer-sticky' && o.select !== 'avoid-sticky') throw new SessionInputError('select', 'must be prefer-sticky or avoid-sticky');
    s.select = o.select;
  }
  if (o.coolOff !== undefined) {
    if (!/^\d{1,8}$/.test(o.coolOff)) throw new SessionInputError('cool-off', 'must be whole seconds');
    s.coolOffSec = Number(o.coolOff);
  }
  if (o.geo !== undefined) {
    if (o.geo !== 'none' && o.geo !== 'country') throw new SessionInputError('geo', 'must be none or country');
    s.geo = o.geo;
  }
  if (o.geoFallback !== undefined) {
    if (o.geoFallback !== 'any' && o.geoFallback !== 'none') throw new SessionInputError('geo-fallback', 'must be any or none');
    s.geoFallback = o.geoFallback;
  }
  return s;
}

export function addPoolCommands(program: Command, ctx: PoolCommandContext): void {
  const pool = program.command('pool').description('number pools: add, list, reserve, drain, quarantine, remove');
  const withSettings = (c: Command) => c
    .option('--select <mode>', 'prefer-sticky (default) or avoid-sticky')
    .option('--cool-off <seconds>', 'cool-off of a freed number before it goes to a participant with another counterparty')
    .option('--geo <mode>', 'none (default) or country (match A\'s country calling code)')
    .option('--geo-fallback <mode>', 'any (default: the whole pool) or none');

  withSettings(pool.command('set <name>').description('create a pool or change its settings'))
    .action(async (name: string, o: Record<string, string>) => ctx.print({ ...(await ctx.withPools((p) => p.set(name, settingsFrom(o)))) }));
  withSettings(pool.command('add <name> <numbers...>').description('add E.164 numbers (creating the pool if needed); all or none'))
    .option('--reserved', 'add them reserved: given only when a session names them')
    .action(async (name: string, numbers: string[], o: Record<string, string | boolean>) => {
      const added = await ctx.withPools(async (p, region) => {
        if (!(await p.get(name)) || Object.keys(settingsFrom(o)).length > 0) await p.set(name, settingsFrom(o));
        return p.add(name, numbersIn(numbers, region), o.reserved ? 'reserved' : 'active');
      });
      ctx.print({ pool: name, added });
    });
  pool.command('list [name]').description('all pools, or one pool\'s numbers and their states')
    .action(async (name?: string) => {
      if (name) ctx.print(await ctx.withPools((p) => p.numbers(name)));
      else ctx.print((await ctx.withPools((p) => p.list())).map(({ counts, ...rest }) => ({ ...rest, ...counts })));
    });
  const stateCommand = (cmd: string, state: NumberState, what: string) => pool.command(`${cmd} <name> <numbers...>`).description(what)
    .action(async (name: string, numbers: string[]) => {
      await ctx.withPools((p, region) => p.setState(name, numbersIn(numbers, region), state));
      ctx.print({ pool: name, numbers: numbers.length, state });
    });
  stateCommand('reserve', 'reserved', 'reserve numbers: given only when a session names them');
  stateCommand('drain', 'draining', 'no new sessions on these numbers; open ones run to their end');
  stateCommand('quarantine', 'quarantined', 'take numbers out of rotation (e.g. flagged as spam)');
  stateCommand('activate', 'active', 'put numbers (back) into rotation');
  pool.command('remove <name> <numbers...>').description('remove numbers from the pool (drain them first)')
    .action(async (name: string, numbers: string[]) => {
      await ctx.withPools((p, region) => p.remove(name, numbersIn(numbers, region)));
      ctx.print({ pool: name, removed: numbers.length });
    });

  program.command('contract').description('the Redis contract').command('load')
    .description('load the maskbridge Redis Functions library (contract v2) unless Redis has this version')
    .action(async () => {
      const outcome = await ctx.withPools((_p, _r, redis) => loadLibrary(redis));
      ctx.print({ library: 'maskbridge', version: libraryVersion(), outcome });
    });
}
