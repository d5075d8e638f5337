/**
 * The maskbridge CLI: sessions and pools from a shell or a cron job (the same service layer as
 * the API), the contract library, a config check, and `serve`. `runCli` does the work and
 * returns the exit code; src/cli/main.ts is the process wrapper. Exit codes (src/cli/exit.ts):
 *   0 ok · 1 not found · 2 bad input or config · 3 Redis unavailable (cannot connect, or no answer
 *   in time) · 4 malformed stored data (names the key and the problem) · 5 conflict · 6 pool
 *   exhausted · 70 internal error
 */
import { Command } from 'commander';
import { callIdHasher } from '../calls/call-id.js';
import pino from 'pino';
import { configFilesFromEnv, loadConfig } from '../config/load.js';
import type { AppConfig } from '../config/types.js';
import { NumberFormatError, toE164 } from '../numbers/normalise.js';
import { createRedis, redisOptions, StoreUnavailableError, type Redis } from '../sessions/redis.js';
import { PoolStore } from '../sessions/pools.js';
import { Durability } from '../sessions/durability.js';
import { LiveCalls } from '../calls/live-calls.js';
import { DataLifecycle } from '../lifecycle/data.js';
import { CdrReader } from '../cdr/query.js';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { listRecordings } from '../media/retention.js';
import { SessionInputError, SessionStore, type SessionOptions } from '../sessions/store.js';
import type { SessionRecord } from '../sessions/contract.js';
import { CliExit, EXIT, EXIT_CODES_HELP, exitFor } from './exit.js';
import { render } from './output.js';
import { VERSION } from '../version.js';
import { addPoolCommands } from './pool-commands.js';
import { addEventCommands } from './event-commands.js';
import { OutboxAdmin } from '../events/outbox.js';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** A Redis URL for messages: the password, if any, masked. */
const shownUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');
/** Where the CLI looks for Redis: the URL, or the sentinels and the primary's name. */
const shownRedis = (c: AppConfig) => (c.redis.sentinels.length > 0
  ? `the primary "${c.redis.sentinelName}" of sentinels ${c.redis.sentinels.join(',')}`
  : shownUrl(c.redis.url));

export async function runCli(argv: string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const program = new Command('maskbridge')
    .description('Self-hosted phone-number masking: sessions and config')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .option('-c, --config <files>', 'config files, comma separated (default: MASKBRIDGE_CONFIG or config/default.json)')
    .option('--json', 'print JSON (one line) instead of tables');
  const print = (value: Record<string, unknown> | Array<Record<string, unknown>>) => io.out(render(value, program.opts<{ json?: boolean }>().json === true));

  const config = () => {
    const files = program.opts<{ config?: string }>().config?.split(',') ?? configFilesFromEnv(env);
    return loadConfig({ env, files });
  };

  const withStore = async <T>(fn: (store: SessionStore, region: string, redis: Redis, pools: PoolStore, c: AppConfig) => Promise<T>): Promise<T> => {
    const c = config();
    const redis = createRedis(redisOptions(c.redis), pino({ level: 'silent' }));
    const connectMs = Math.max(c.redis.commandTimeoutMs, 2000);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        redis.connect(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new StoreUnavailableError(new Error(`cannot reach redis at ${shownRedis(c)} within ${connectMs} ms`))), connectMs);
        }),
      ]);
      // What fails here goes to exitFor: only a connection or timeout failure is "Redis unavailable" (3).
      const store = new SessionStore(redis, c.redis.keyPrefix, c.redis.commandTimeoutMs);
      return await fn(store, c.numbers.defaultRegion, redis, new PoolStore(redis, c.redis.keyPrefix, c.redis.commandTimeoutMs, store.health), c);
    } finally {
      clearTimeout(timer);
      if (redis.isReady) await redis.close().catch(() => undefined);
      else redis.destroy();
    }
  };

  /**
   * withStore for a session write: then WAIT for redis.waitReplicas replicas (0: none), on the
   * connection that wrote. Not on them in time: a warning on stderr; the write stands, exit 0.
   */
  const withWrite = <T>(fn: (store: SessionStore, region: string, redis: Redis, pools: PoolStore, c: AppConfig) => Promise<T>): Promise<T> =>
    withStore(async (store, region, redis, pools, c) => {
      const durability = new Durability(redis, { replicas: c.redis.waitReplicas, timeoutMs: c.redis.waitTimeoutMs });
      const { value, replicated } = await durability.run(() => fn(store, region, redis, pools, c));
      if (replicated === false) {
        io.err(`warning: written on the redis primary, but not on ${c.redis.waitReplicas} replica(s) within ${c.redis.waitTimeoutMs} ms (redis.waitReplicas): a failover now could lose it`);
      }
      return value;
    });

  const e164 = (field: string, value: string, region: string) => {
    try {
      return toE164(value, region);
    } catch (err) {
      if (err instanceof NumberFormatError) throw new SessionInputError(field, `"${value}" is ${err.message}`);
      throw err;
    }
  };

  const time = (field: string, iso: string) => {
    const t = Date.parse(iso);
    if (!Number.isFinite(t)) throw new SessionInputError(field, `"${iso}" is not an ISO 8601 time`);
    return t;
  };
  const seconds = (field: string, v: string) => {
    if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new SessionInputError(field, 'must be whole seconds >= 1');
    return Number(v);
  };
  const show = (s: SessionRecord) => print({
    id: s.id, virtualNumber: s.virtualNumber, a: s.a, b: s.b, status: s.status, expiresAt: new Date(s.expiresAt).toISOString(),
    pool: s.pool ?? null, direction: s.direction, record: s.record ?? null, label: s.label ?? null,
    slidingTtlSec: s.ttlSec ?? null, maxExpiresAt: s.maxExpiresAt === undefined ? null : new Date(s.maxExpiresAt).toISOString(), meta: s.meta ?? null,
    windows: s.windowsText ?? null, tz: s.tz, maxDurationSec: s.maxDurationSec ?? null, ringTimeoutSec: s.ringTimeoutSec ?? null,
    webhookUrl: s.webhookUrl ?? null, unknownCaller: s.unknownCaller ?? null,
  });

  const session = program.command('session').description('create, show, list, extend or close a masking session');
  session
    .command('create')
    .requiredOption('--id <id>', 'session id, e.g. the order id')
    .option('--virtual <number>', 'virtual number (or --pool)')
    .option('--pool <name>', 'allocate the virtual number from this pool')
    .option('--geo <mode>', 'with --pool: none, country or +{calling code} (default: the pool\'s)')
    .requiredOption('--a <number>', 'participant A')
    .requiredOption('--b <number>', 'participant B')
    .option('--ttl <seconds>', 'lifetime from now in seconds (default 3600)')
    .option('--expires <iso>', 'expiry as ISO 8601 (instead of --ttl)')
    .option('--sliding-ttl <seconds>', 'the session lives this long past the end of its last answered call')
    .option('--max-expires <iso>', 'absolute expiry on top of any TTL')
    .option('--one-way', 'only A may call B')
    .option('--record', 'record this session\'s calls')
    .option('--no-record', 'do not record this session\'s calls')
    .option('--label <text>', 'free text')
    .option('--meta <json>', 'JSON kept for the backend')
    .option('--consent <file>', 'consent prompt for this session\'s recorded calls (none: no prompt)')
    .option('--windows <spec>', 'when calls may connect, e.g. "mon-fri 08:00-20:00; sat 09:00-13:00"')
    .option('--tz <zone>', 'IANA time zone of --windows (default UTC)')
    .option('--max-duration <seconds>', 'longest call of this session')
    .option('--ring-timeout <seconds>', 'how long the other party rings')
    .option('--webhook-url <url>', 'where this session\'s events go (instead of webhooks.defaultUrl)')
    .option('--unknown-caller <treatment>', 'what callers with no session on V (and B of --one-way) get: reject, announce:{file}, connect-a or connect-b; any but reject dedicates V to this session')
    .action(async (o: {
      id: string; virtual?: string; pool?: string; geo?: string; a: string; b: string; ttl?: string; expires?: string; slidingTtl?: string;
      maxExpires?: string; oneWay?: boolean; record?: boolean; label?: string; meta?: string;
      windows?: string; tz?: string; maxDuration?: string; ringTimeout?: string; consent?: string; webhookUrl?: string; unknownCaller?: string;
    }) => {
      if ((o.virtual === undefined) === (o.pool === undefined)) throw new SessionInputError('virtual', 'give exactly one of --virtual and --pool');
      if ([o.ttl, o.expires, o.slidingTtl].filter((v) => v !== undefined).length > 1) throw new SessionInputError('ttl', 'give one of --ttl, --expires and --sliding-ttl');
      const ttlSec = o.slidingTtl !== undefined ? seconds('sliding-ttl', o.slidingTtl) : undefined;
      const expiresAt = o.expires ? time('expires', o.expires) : Date.now() + (ttlSec ?? (o.ttl !== undefined ? seconds('ttl', o.ttl) : 3600)) * 1000;
      const opts: SessionOptions = {
        ...(o.record !== undefined ? { record: o.record } : {}), ...(o.label ? { label: o.label } : {}), ...(o.meta ? { meta: o.meta } : {}),
        ...(o.oneWay ? { direction: 'a-to-b' as const } : {}), ...(ttlSec !== undefined ? { ttlSec } : {}),
        ...(o.maxExpires ? { maxExpiresAt: time('max-expires', o.maxExpires) } : {}),
        ...(o.windows ? { windows: o.windows } : {}), ...(o.tz ? { tz: o.tz } : {}), ...(o.consent ? { consent: o.consent } : {}),
        ...(o.maxDuration ? { maxDurationSec: seconds('max-duration', o.maxDuration) } : {}),
        ...(o.ringTimeout ? { ringTimeoutSec: seconds('ring-timeout', o.ringTimeout) } : {}),
        ...(o.webhookUrl ? { webhookUrl: o.webhookUrl } : {}), ...(o.unknownCaller ? { unknownCaller: o.unknownCaller } : {}),
      };
      const created = await withWrite((store, region) => {
        const base = { id: o.id, a: e164('a', o.a, region), b: e164('b', o.b, region), expiresAt, ...opts };
        return o.pool !== undefined
          ? store.allocate({ ...base, pool: o.pool, ...(o.geo ? { geo: o.geo } : {}) })
          : store.create({ ...base, virtualNumber: e164('virtual', o.virtual as string, region) });
      });
      show(created);
    });
  for (const name of ['show', 'get']) {
    session.command(`${name} <id>`).description(name === 'get' ? 'same as show' : 'show a session').action(async (id: string) => {
      const s = await withStore((store) => store.get(id));
      if (!s) throw new CliExit(EXIT.noSuchSession, `no session ${id}`);
      show(s);
    });
  }
  session.command('list')
    .option('--participant <number>', 'a participant\'s open sessions')
    .option('--status <status>', 'open or closed').option('--pool <name>', 'only this pool\'s').option('--virtual <number>', 'only on this number')
    .option('--limit <n>', 'at most about this many', '100').option('--cursor <c>', 'the next cursor a previous page printed (stderr)')
    .description('sessions: a participant\'s open ones, or any, filtered, a page at a time')
    .action(async (o: { participant?: string; status?: string; pool?: string; virtual?: string; limit: string; cursor?: string }) => {
      const row = (s: SessionRecord) => ({ id: s.id, virtualNumber: s.virtualNumber, a: s.a, b: s.b, status: s.status, expiresAt: new Date(s.expiresAt).toISOString(), pool: s.pool ?? null });
      if (o.participant) {
        print((await withStore((store, region) => store.sessionsOf(e164('participant', o.participant as string, region)))).map(row));
        return;
      }
      if (o.status !== undefined && o.status !== 'open' && o.status !== 'closed') throw new SessionInputError('status', 'must be open or closed');
      const status = o.status as 'open' | 'closed' | undefined;
      const page = await withStore((store, region) => store.list({
        limit: seconds('limit', o.limit), ...(status ? { status } : {}), ...(o.pool ? { pool: o.pool } : {}),
        ...(o.virtual ? { virtualNumber: e164('virtual', o.virtual, region) } : {}), ...(o.cursor ? { cursor: o.cursor } : {}),
      }));
      print(page.sessions.map(row));
      if (page.next) io.err(`more: --cursor ${page.next}`);
    });
  session.command('extend <id>').option('--ttl <seconds>', 'new expiry: now plus this').option('--expires <iso>', 'new expiry as ISO 8601')
    .description('move a session\'s expiry')
    .action(async (id: string, o: { ttl?: string; expires?: string }) => {
      if ((o.ttl === undefined) === (o.expires === undefined)) throw new SessionInputError('ttl', 'give one of --ttl and --expires');
      const at = o.expires ? time('expires', o.expires) : Date.now() + seconds('ttl', o.ttl as string) * 1000;
      show(await withWrite((store) => store.extend(id, at)));
    });
  session.command('close <id>').description('close a session: calls stop connecting, live calls are hung up').action(async (id: string) => {
    if (!(await withWrite((store) => store.close(id)))) throw new CliExit(EXIT.noSuchSession, `no session ${id}`);
    print({ id, status: 'closed' });
  });
  program.command('participant').description('participants').command('erase <number>')
    .description('erase a participant: every session of theirs (open or not), its routes and recordings (where media.recording.dir is visible); live calls are hung up')
    .action(async (number: string) => {
      const erased = await withWrite((store, region, redis, _p, c) => {
        return new DataLifecycle(redis, store, {
          cdrStream: store.keys.cdr, cdrRetentionDays: 0, recordingsDir: c.media.recording.dir, recordingRetentionDays: 0, timeoutMs: c.redis.commandTimeoutMs * 20,
        }, pino({ level: 'silent' })).erase(e164('number', number, region));
      });
      print({ number: erased.number, sessions: erased.sessions.join(' ') || '-', recordingFolders: erased.recordingFolders });
    });
  const cdr = program.command('cdr').description('CDRs from the stream');
  const reader = (store: SessionStore, redis: Redis, c: AppConfig) => new CdrReader(redis, store.keys.cdr, c.redis.commandTimeoutMs * 4);
  cdr.command('tail').option('-n, --count <n>', 'how many of the newest', '20').action(async (o: { count: string }) => {
    print(await withStore((store, _r, redis, _p, c) => reader(store, redis, c).tail(seconds('count', o.count))));
  });
  cdr.command('query').option('--session <id>', 'only this session\'s').option('--from <iso>', 'written at or after').option('--to <iso>', 'written at or before')
    .option('--limit <n>', 'at most this many', '100').option('--cursor <id>', 'go on after this stream id (the last one printed)')
    .action(async (o: { session?: string; from?: string; to?: string; limit: string; cursor?: string }) => {
      const page = await withStore((store, _r, redis, _p, c) => reader(store, redis, c).query({
        limit: seconds('limit', o.limit), ...(o.session ? { sessionId: o.session } : {}), ...(o.cursor ? { cursor: o.cursor } : {}),
        ...(o.from ? { from: time('from', o.from) } : {}), ...(o.to ? { to: time('to', o.to) } : {}),
      }));
      print(page.cdrs);
    });
  program.command('recording').description('recordings').command('get <sessionId>')
    .description('list a session\'s recordings (where media.recording.dir is visible); --out copies them into a folder')
    .option('--out <dir>', 'copy the files here')
    .action(async (sessionId: string, o: { out?: string }) => {
      const files = await listRecordings(config().media.recording.dir, sessionId);
      if (files.length === 0) throw new CliExit(EXIT.noSuchSession, `no recordings of session ${sessionId}`);
      if (o.out) {
        await mkdir(o.out, { recursive: true });
        for (const f of files) await copyFile(f.path, join(o.out, `${f.day}-${f.name}`));
      }
      print(files.map((f) => ({ day: f.day, name: f.name, bytes: f.bytes, path: o.out ? join(o.out, `${f.day}-${f.name}`) : f.path })));
    });
  const calls = program.command('calls').description('connected calls on every live instance (the live-call registry in Redis)');
  calls.command('list').option('--session <id>', 'only this session\'s calls').action(async (o: { session?: string }) => {
    print(await withStore((_s, _r, redis, _p, c) => new LiveCalls(redis, c.redis.keyPrefix, c.redis.commandTimeoutMs * 4).list(o.session ? { sessionId: o.session } : {})).then((list) => list.map((c) => ({ ...c }))));
  });
  calls.command('hangup <callId>').description('hang up a call (BYE to both parties) on whichever instance holds it').action(async (callId: string) => {
    if (!(await withStore((_s, _r, redis, _p, c) => new LiveCalls(redis, c.redis.keyPrefix, c.redis.commandTimeoutMs * 4).hangup(callId)))) {
      throw new CliExit(EXIT.noSuchSession, `no live call ${callId}`);
    }
    print({ callId, hangup: 'requested' });
  });
  program.command('serve').description('run maskbridge (SIP, media, API) until SIGTERM; config from MASKBRIDGE_CONFIG and MB_* variables')
    .action(() => {
      throw new CliExit(EXIT.badInput, 'serve runs from the maskbridge binary (dist/src/cli/main.js serve), not in-process');
    });
  addPoolCommands(program, { withPools: (fn) => withStore((_s, region, redis, pools) => fn(pools, region, redis)), print });
  addEventCommands(program, { withOutbox: (fn) => withStore((_s, _r, redis, _p, c) => fn(new OutboxAdmin(redis, c.redis.keyPrefix, c.redis.commandTimeoutMs * 4))), print });
  program.command('check-config').description('validate the configuration and exit').action(() => {
    const c = config();
    io.out(`configuration OK (media ${c.media.mode}, redis ${shownRedis(c)})`);
  });
  program.command('config').description('configuration').command('check').description('validate the configuration and exit').action(() => {
    const c = config();
    io.out(`configuration OK (media ${c.media.mode}, redis ${shownRedis(c)})`);
  });
  program.command('call-id <sipCallId>')
    .description('the id CDRs, recording file names and logs carry for a SIP Call-ID (keyed with calls.callIdKey)')
    .action((sipCallId: string) => {
      const key = config().calls.callIdKey;
      if (!key) throw new CliExit(EXIT.badInput, 'calls.callIdKey is not set: maskbridge then uses a random key per process, and ids cannot be computed here');
      io.out(callIdHasher(key)(sipCallId));
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    const { code, message } = exitFor(err);
    if (message) io.err(message);
    return code;
  }
}
