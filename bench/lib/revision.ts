/**
 * maskbridge built from another git revision, for a same-run comparison (bench/sipp-load.ts
 * target `maskbridge@REV`): a detached `git worktree` of REV in a temporary directory outside
 * the repo, this repo's node_modules linked in, compiled there as this tree's children are
 * (buildTree: its own tsconfig.bench.json, so its own bench/lib/maskbridge-media.ts starts it
 * with its own config keys). Removed again (git worktree remove) when the benchmark ends.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTree } from './server-child.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const git = (args: string[], cwd = repoRoot) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

export interface Revision {
  rev: string;
  commit: string;
  /** Its tree, compiled (dist/). */
  root: string;
  remove(): void;
}

/** Checks out and compiles `rev`; throws (naming it) when git or the build fails. */
export function buildRevision(rev: string): Revision {
  const commit = git(['rev-parse', '--verify', `${rev}^{commit}`]);
  const parent = mkdtempSync(join(tmpdir(), 'mb-bench-rev-'));
  const root = join(parent, commit.slice(0, 12));
  git(['worktree', 'add', '--detach', root, commit]);
  const remove = () => {
    try {
      git(['worktree', 'remove', '--force', root]);
    } catch {
      rmSync(root, { recursive: true, force: true });
      git(['worktree', 'prune']);
    }
    rmSync(parent, { recursive: true, force: true });
  };
  try {
    symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'));
    if (!existsSync(join(root, 'bench/lib/maskbridge-media.ts'))) throw new Error(`${rev} has no bench/lib/maskbridge-media.ts to start it with`);
    console.log(`building maskbridge@${rev} (${commit.slice(0, 12)}) in ${root}`);
    buildTree(root);
  } catch (err) {
    remove();
    throw new Error(`maskbridge@${rev}: ${(err as Error).message}`);
  }
  return { rev, commit, root, remove };
}
