/**
 * Process entry: load config, build the app, run until SIGTERM/SIGINT, then drain.
 * A configuration error exits 2 and a start-up failure (e.g. the API port taken) exits 1, each
 * with one clear line; drachtio-server or Redis being away at start is not a failure (both are
 * retried in the background).
 */
import { createApp, type App } from './app.js';
import { ConfigError, configFilesFromEnv, loadConfig } from './config/load.js';
import type { AppConfig } from './config/types.js';

function fatal(line: string, code: number): never {
  process.stderr.write(`maskbridge: ${line}\n`);
  process.exit(code);
}

function load(): AppConfig {
  try {
    return loadConfig({ env: process.env, files: configFilesFromEnv(process.env) });
  } catch (err) {
    if (err instanceof ConfigError) fatal(err.message, 2);
    throw err;
  }
}

async function main(): Promise<void> {
  const config = load();
  let app: App;
  try {
    app = createApp(config);
  } catch (err) {
    fatal(`start-up failed: ${(err as Error).message}`, 1);
  }
  process.on('unhandledRejection', (reason) => app.log.error({ err: String(reason) }, 'unhandled rejection (kept running)'));
  process.on('uncaughtException', (err) => app.log.error({ err: err.message, stack: err.stack }, 'uncaught exception (kept running)'));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'signal received');
    app.stop().then(
      () => process.exit(0),
      (err: Error) => {
        app.log.error({ err: err.message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await app.start();
  } catch (err) {
    stopping = true;
    const message = (err as Error).message ?? String(err);
    app.log.fatal({ err: message }, 'start-up failed; exiting');
    fatal(`start-up failed: ${message}`, 1);
  }
}

void main();
