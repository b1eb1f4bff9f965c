import { basename } from 'node:path';
import { mergePreference, runMergeDriver, type MergeDriverResult } from '../git/conflicts.js';
import { boardRepo } from '../store/gitrun.js';
import { installGit } from '../git/gitinstall.js';
import { type SyncOptions, type SyncResult, syncBoard } from '../git/sync.js';
import { boardDir, type Ctx } from './context.js';

export type { MergeDriverResult, SyncOptions, SyncResult };

/**
 * `baton merge-driver BASE OURS THEIRS [PATH]`, run by git (%O %A %B %P) in every merge,
 * rebase, cherry-pick, revert and stash (git/conflicts.ts).
 */
export async function mergeDriver(base: string, ours: string, theirs: string, path: string | undefined, ctx: Ctx): Promise<MergeDriverResult> {
  return runMergeDriver(base, ours, theirs, path, mergePreference(ctx.env));
}

export interface GitInstallResult {
  revision: number;
  repo: string;
  changed: string[];
}

/** `git install` / `git uninstall`: the attributes, drivers and ignore lines (git/gitinstall.ts). */
export async function install(ctx: Ctx, remove = false): Promise<GitInstallResult> {
  const where = boardRepo(boardDir(ctx), ctx);
  // git runs the driver with this node and this bin, wherever the command was started from.
  const changed = installGit(where, { node: process.execPath, bin: ctx.bin }, remove);
  return { revision: 0, repo: where.repo, changed };
}

export const renderInstall = (r: GitInstallResult) => (r.changed.length ? `Changed in ${basename(r.repo)}: ${r.changed.join(', ')}.` : 'Already in place; nothing changed.');

/** Commits, merges and pushes the board (git/sync.ts). `claimed` is claim --sync's task and agent. */
export async function sync(o: SyncOptions, ctx: Ctx, claimed?: { task: string; agent: string }): Promise<SyncResult> {
  return syncBoard(boardRepo(boardDir(ctx), ctx), o, ctx.lockTimeoutMs, ctx.env, claimed);
}

export const renderSync = (r: SyncResult) =>
  `Synced at revision ${r.revision}: ${[r.committed ? 'committed' : 'nothing new to commit', r.merged ? 'merged the remote' : null, r.pushed ? 'pushed' : null].filter(Boolean).join(', ')}${r.attempts > 1 ? ` (${r.attempts} attempts)` : ''}.`;
