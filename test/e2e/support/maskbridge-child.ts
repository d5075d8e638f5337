/**
 * maskbridge in a process of its own, for tests that kill it (kill -9): support/maskbridge.ts's
 * startMaskbridge with the options given as JSON in argv[2]; writes "ready" on stdout once it
 * is connected to drachtio-server and Redis, and runs until killed.
 */
import { startMaskbridge } from './maskbridge.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof startMaskbridge>[0];
await startMaskbridge(opts);
process.stdout.write('ready\n');
