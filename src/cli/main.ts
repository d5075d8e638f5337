#!/usr/bin/env node
/** `maskbridge` command: see src/cli/cli.ts. */
import { runCli } from './cli.js';

runCli(process.argv.slice(2), process.env, {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
}).then((code) => process.exit(code));
