import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BatonError } from '../rules/errors.js';

export const BOARD_DIRNAME = 'project-plan';

export interface Locate {
  cwd: string;
  dir?: string | undefined;
  env: Record<string, string | undefined>;
}

const isBoard = (dir: string) => existsSync(join(dir, 'state.json')) || existsSync(join(dir, 'config.yaml'));

/** `--dir` and BATON_DIR name the board directory itself, or a folder holding project-plan/. */
function fromExplicit(path: string, cwd: string, source: string): string {
  const dir = resolve(cwd, path);
  if (isBoard(dir)) return dir;
  if (isBoard(join(dir, BOARD_DIRNAME))) return join(dir, BOARD_DIRNAME);
  throw new BatonError('NO_BOARD', `No baton board at ${dir} (from ${source}).`, {
    hint: `baton init --dir ${path}`,
    details: { dir },
  });
}

/**
 * The main worktree's root when `start` is inside a linked git worktree, else null. Read
 * from the `.git` file and the `commondir` it points to: no git process on the hot path.
 */
function mainWorktreeOf(start: string): string | null {
  for (let dir = start; ; dir = dirname(dir)) {
    const dotGit = join(dir, '.git');
    let st;
    try {
      st = statSync(dotGit);
    } catch {
      st = null;
    }
    if (st?.isDirectory()) return null;
    if (st?.isFile()) {
      const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'));
      if (!m) return null;
      const gitdir = resolve(dir, m[1]!.trim());
      let common: string;
      try {
        common = readFileSync(join(gitdir, 'commondir'), 'utf8').trim();
      } catch {
        return null; // a submodule, not a linked worktree
      }
      const commonDir = isAbsolute(common) ? common : resolve(gitdir, common);
      return dirname(commonDir);
    }
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Finds the board: --dir > BATON_DIR > inside a linked git worktree, the main worktree's
 * board > the nearest project-plan/ walking up. (The worktree rule comes before the walk,
 * unlike SPEC §2, because a board committed to git is also checked out inside every
 * worktree, and agents there must share the live board, not a stale copy.)
 */
export function locateBoard(loc: Locate): string {
  if (loc.dir) return fromExplicit(loc.dir, loc.cwd, '--dir');
  if (loc.env.BATON_DIR) return fromExplicit(loc.env.BATON_DIR, loc.cwd, 'BATON_DIR');
  const main = mainWorktreeOf(loc.cwd);
  if (main && isBoard(join(main, BOARD_DIRNAME))) return join(main, BOARD_DIRNAME);
  for (let dir = resolve(loc.cwd); ; dir = dirname(dir)) {
    if (isBoard(join(dir, BOARD_DIRNAME))) return join(dir, BOARD_DIRNAME);
    if (dirname(dir) === dir) break;
  }
  throw new BatonError('NO_BOARD', 'No baton board here: no project-plan/ in this directory or any parent.', {
    hint: 'baton init',
  });
}
