/**
 * Per-instance spool directories (docs/scale-out.md, "Spools"): a spool path (cdr.spoolFile,
 * webhooks.spoolFile) may hold the token `{instance}` as one whole directory name, e.g.
 * `/var/lib/maskbridge/spool/{instance}/cdr-spool.jsonl`. Each instance then spools into its own
 * directory under a root that all instances share (a shared volume), and the directories of
 * instances that never come back are found there and replayed by a survivor (orphans.ts).
 * A path without the token is used as it is (one instance per spool, as before).
 */
import { posix } from 'node:path';

export const INSTANCE_TOKEN = '{instance}';

/** What a directory of one instance may be called: a host name, a container id, hostname-pid. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeInstanceId(id: string): boolean {
  return SAFE_ID.test(id);
}

/** Where a templated spool's instance directories live: `{root}/{id}/{rest}`. */
export interface InstanceLayout {
  root: string;
  rest: string;
}

/**
 * The layout of a spool path: null without the token; throws (naming `key`) when the token is
 * not one whole directory name, appears twice, or has no root directory before it.
 */
export function instanceLayout(key: string, path: string): InstanceLayout | null {
  const at = path.indexOf(INSTANCE_TOKEN);
  if (at === -1) return null;
  if (path.indexOf(INSTANCE_TOKEN, at + 1) !== -1) throw new Error(`${key}: "${path}" holds ${INSTANCE_TOKEN} more than once`);
  const parts = path.split('/');
  const i = parts.indexOf(INSTANCE_TOKEN);
  if (i === -1) throw new Error(`${key}: "${path}": ${INSTANCE_TOKEN} must be a whole directory name (…/spool/${INSTANCE_TOKEN}/cdr-spool.jsonl)`);
  const root = parts.slice(0, i).join('/');
  const rest = parts.slice(i + 1).join('/');
  if (root === '' || rest === '') throw new Error(`${key}: "${path}": ${INSTANCE_TOKEN} needs a directory before it (the root all instances share) and a file name after it`);
  return { root: posix.normalize(root), rest };
}

/** The spool path of instance `id`; throws when `id` cannot be a directory name. */
export function spoolPathFor(key: string, path: string, id: string): string {
  const layout = instanceLayout(key, path);
  if (!layout) return path;
  if (!isSafeInstanceId(id)) {
    throw new Error(`${key}: the instance id ${JSON.stringify(id)} cannot name a spool directory (letters, digits, ".", "_", "-"; set calls.instanceId)`);
  }
  return `${layout.root}/${id}/${layout.rest}`;
}
