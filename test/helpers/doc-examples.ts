/** Runs the redis-cli examples of docs/redis-contract.md, so the documented contract is the tested one. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function docExample(name: string): string {
  const doc = readFileSync('docs/redis-contract.md', 'utf8');
  const m = new RegExp(`<!-- example: ${name} -->\\n\`\`\`redis-cli\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!m) throw new Error(`docs/redis-contract.md has no example "${name}"`);
  return m[1] as string;
}

/** Pipes commands into one redis-cli connection (as the doc says to), with text replacements. */
export function runRedisCli(port: number, commands: string, replace: Record<string, string> = {}): string {
  let text = commands;
  for (const [from, to] of Object.entries(replace)) text = text.split(from).join(to);
  const r = spawnSync('redis-cli', ['-p', String(port)], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli failed: ${r.stderr}`);
  if (/ERR|WRONGTYPE|EXECABORT/.test(r.stdout)) throw new Error(`redis-cli reported: ${r.stdout}`);
  return r.stdout;
}
