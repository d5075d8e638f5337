#!/usr/bin/env node
/** `maskbridge` command: see src/cli/cli.ts. */
import { runCli } from './cli.js';

// `maskbridge serve` runs the service itself (src/main.ts: config from the environment, SIGTERM drains).
if (process.argv[2] === 'serve') await import('../main.js');
else runCli(process.argv.slice(2), process.env, {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
}).then((code) => process.exit(code));
