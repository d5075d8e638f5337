/**
 * The maskbridge CLI: sessions from a shell or a cron job, and a config check.
 * `runCli` does the work and returns the exit code; src/cli/main.ts is the process wrapper.
 * Exit codes (src/cli/exit.ts):
 *   0 ok · 1 no such session · 2 bad input or config · 3 Redis unavailable (cannot connect, or
 *   no answer in time) · 4 malformed stored data (names the key and the problem) · 5 conflict
 *   (a participant already has an open session on the virtual number) · 70 internal error
 */
import { Command } from 'commander';
import { callIdHasher } from '../calls/call-id.js';
import pino from 'pino';
import { configFilesFromEnv, loadConfig } from '../config/load.js';
import { NumberFormatError, toE164 } from '../numbers/normalise.js';
import { createRedis, StoreUnavailableError } from '../sessions/redis.js';
import { SessionInputError, SessionStore } from '../sessions/store.js';
import { CliExit, EXIT, EXIT_CODES_HELP, exitFor } from './exit.js';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** A Redis URL for messages: the password, if any, masked. */
const shownUrl = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');

export async function runCli(argv: string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  const program = new Command('maskbridge')
    .description('Self-hosted phone-number masking: sessions and config')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .option('-c, --config <files>', 'config files, comma separated (default: MASKBRIDGE_CONFIG or config/default.json)');

  const config = () => {
    const files = program.opts<{ config?: string }>().config?.split(',') ?? configFilesFromEnv(env);
    return loadConfig({ env, files });
  };

  const withStore = async <T>(fn: (store: SessionStore, region: string) => Promise<T>): Promise<T> => {
    const c = config();
    const redis = createRedis({ url: c.redis.url, commandTimeoutMs: c.redis.commandTimeoutMs }, pino({ level: 'silent' }));
    const connectMs = Math.max(c.redis.commandTimeoutMs, 2000);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        redis.connect(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new StoreUnavailableError(new Error(`cannot reach redis at ${shownUrl(c.redis.url)} within ${connectMs} ms`))), connectMs);
        }),
      ]);
      // What fails here goes to exitFor: only a connection or timeout failure is "Redis unavailable" (3).
      return await fn(new SessionStore(redis, c.redis.keyPrefix, c.redis.commandTimeoutMs), c.numbers.defaultRegion);
    } finally {
      clearTimeout(timer);
      if (redis.isReady) await redis.close().catch(() => undefined);
      else redis.destroy();
    }
  };

  const e164 = (field: string, value: string, region: string) => {
    try {
      return toE164(value, region);
    } catch (err) {
      if (err instanceof NumberFormatError) throw new SessionInputError(field, `"${value}" is ${err.message}`);
      throw err;
    }
  };

  const session = program.command('session').description('create, show or close a masking session');
  session
    .command('create')
    .requiredOption('--id <id>', 'session id, e.g. the order id')
    .requiredOption('--virtual <number>', 'virtual number')
    .requiredOption('--a <number>', 'participant A')
    .requiredOption('--b <number>', 'participant B')
    .option('--ttl <seconds>', 'lifetime in seconds (default 3600)', '3600')
    .option('--expires <iso>', 'expiry as ISO 8601 (instead of --ttl)')
    .option('--record', 'record this session\'s calls')
    .option('--no-record', 'do not record this session\'s calls')
    .option('--label <text>', 'free text')
    .action(async (o: { id: string; virtual: string; a: string; b: string; ttl: string; expires?: string; record?: boolean; label?: string }) => {
      const expiresAt = o.expires ? Date.parse(o.expires) : Date.now() + Number(o.ttl) * 1000;
      if (!Number.isFinite(expiresAt)) throw new SessionInputError(o.expires ? 'expires' : 'ttl', 'is not a valid time');
      const created = await withStore((store, region) => store.create({
        id: o.id, virtualNumber: e164('virtual', o.virtual, region), a: e164('a', o.a, region), b: e164('b', o.b, region), expiresAt,
        ...(o.record !== undefined ? { record: o.record } : {}), ...(o.label ? { label: o.label } : {}),
      }));
      io.out(JSON.stringify(created));
    });
  session.command('get <id>').action(async (id: string) => {
    const s = await withStore((store) => store.get(id));
    if (!s) throw new CliExit(EXIT.noSuchSession, `no session ${id}`);
    io.out(JSON.stringify(s));
  });
  session.command('close <id>').action(async (id: string) => {
    if (!(await withStore((store) => store.close(id)))) throw new CliExit(EXIT.noSuchSession, `no session ${id}`);
    io.out(JSON.stringify({ id, status: 'closed' }));
  });
  program.command('check-config').description('validate the configuration and exit').action(() => {
    const c = config();
    io.out(`configuration OK (media ${c.media.mode}, redis ${shownUrl(c.redis.url)})`);
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
