/** `maskbridge events ...`: the webhook outbox's dead letters, their replay, and its counts (src/events/outbox.ts). */
import type { Command } from 'commander';
import type { OutboxAdmin } from '../events/outbox.js';
import { CliExit, EXIT } from './exit.js';

export interface EventCommandContext {
  withOutbox<T>(fn: (outbox: OutboxAdmin) => Promise<T>): Promise<T>;
  print(value: Record<string, unknown> | Array<Record<string, unknown>>): void;
}

/** Seconds, minutes, hours or days, for the age column. */
function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export function addEventCommands(program: Command, ctx: EventCommandContext): void {
  const events = program.command('events').description('webhook events: dead letters, replay, outbox counts (docs/webhooks.md)');

  events.command('dead').description('dead letters: events whose delivery failed for good, or malformed entries (never prints numbers)')
    .action(async () => {
      const now = Date.now();
      const rows = await ctx.withOutbox(async (o) => {
        const out: Array<Record<string, unknown>> = [];
        let cursor = '0';
        do {
          const page = await o.dead(cursor);
          for (const l of page.letters) {
            out.push({
              id: l.key, type: l.fields.type ?? null, session: l.fields.session || null, attempts: l.attempts, reason: l.reason,
              error: l.error, age: l.deadAt > 0 ? age(now - l.deadAt) : null, deadAt: l.deadAt > 0 ? new Date(l.deadAt).toISOString() : null,
            });
          }
          cursor = page.next;
        } while (cursor !== '0');
        return out.sort((a, b) => String(a.deadAt).localeCompare(String(b.deadAt)));
      });
      ctx.print(rows);
    });

  events.command('replay [ids...]').description('move dead letters back to delivery (same event id, attempts from 0): the ids, or --all')
    .option('--all', 'every dead letter')
    .action(async (ids: string[], o: { all?: boolean }) => {
      if (o.all === (ids.length > 0)) throw new CliExit(EXIT.badInput, 'give event ids or --all (not both)');
      const result = await ctx.withOutbox(async (outbox) => {
        let keys = ids;
        if (o.all) {
          keys = [];
          let cursor = '0';
          do {
            const page = await outbox.dead(cursor);
            keys.push(...page.letters.map((l) => l.key));
            cursor = page.next;
          } while (cursor !== '0');
        }
        const replayed: string[] = [];
        const missing: string[] = [];
        for (const k of new Set(keys)) (await outbox.replay(k) ? replayed : missing).push(k);
        return { replayed, missing };
      });
      ctx.print({ replayed: result.replayed.length, missing: result.missing.length > 0 ? result.missing : null });
      if (result.missing.length > 0 && !o.all) throw new CliExit(EXIT.noSuchSession, `no dead letter ${result.missing.join(', ')}`);
    });

  events.command('stats').description('outbox depth (not yet delivered), pending (being delivered), retries scheduled, dead letters')
    .action(async () => ctx.print({ ...(await ctx.withOutbox((o) => o.stats())) }));
}
