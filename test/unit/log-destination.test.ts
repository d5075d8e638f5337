import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, LOG_FLUSH_MS, logDestination } from '../../src/log/logger.js';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mb-log-'));
  dirs.push(dir);
  return join(dir, 'maskbridge.log');
}
const read = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('log destination (log.bufferBytes)', () => {
  it('holds lines until bufferBytes are waiting, then writes them in one go', async () => {
    const file = tempFile();
    const log = createLogger({ level: 'info', redactNumbers: true, bufferBytes: 2048 }, logDestination({ level: 'info', redactNumbers: true, bufferBytes: 2048 }, file));
    log.info({ n: 0 }, 'call finished');
    await sleep(100);
    expect(read(file)).toBe('');
    for (let n = 1; n <= 20; n++) log.info({ n, pad: 'x'.repeat(100) }, 'call finished');
    await sleep(100);
    // About 190 bytes a line: the first 2 KiB went out together, the rest waits for more or for the timer.
    const lines = read(file).trim().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.length).toBeLessThan(21);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ n: 0, msg: 'call finished' });
    await sleep(LOG_FLUSH_MS + 300);
    expect(read(file).trim().split('\n')).toHaveLength(21);
  });

  it('writes a lone line within the flush period', async () => {
    const file = tempFile();
    const log = createLogger({ level: 'info', redactNumbers: true, bufferBytes: 4096 }, logDestination({ level: 'info', redactNumbers: true, bufferBytes: 4096 }, file));
    log.info('a quiet hour');
    await sleep(LOG_FLUSH_MS + 300);
    expect(read(file)).toContain('a quiet hour');
  });

  it('with bufferBytes 0, writes each line at once', async () => {
    const file = tempFile();
    const log = createLogger({ level: 'info', redactNumbers: true, bufferBytes: 0 }, logDestination({ level: 'info', redactNumbers: true, bufferBytes: 0 }, file));
    log.info('right away');
    await sleep(100);
    expect(read(file)).toContain('right away');
  });

  it('writes what is still buffered to stdout (the default) when the process exits', () => {
    const script = `
      import { createLogger } from './src/log/logger.ts';
      const log = createLogger({ level: 'info', redactNumbers: true, bufferBytes: 8192 });
      log.info('last words');
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('last words');
  });
});
