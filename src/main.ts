/** Process entry: load config, build the app, run until SIGTERM/SIGINT, then drain. */
import { createApp } from './app.js';
import { ConfigError, configFilesFromEnv, loadConfig } from './config/load.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ env: process.env, files: configFilesFromEnv(process.env) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const app = createApp(config);
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
  await app.start();
}

void main();
