import { relative, resolve } from 'node:path';
import { invalidInput } from '../rules/errors.js';

// One way to run git for every command that asks it something: no shell, output as text.
// node:child_process is loaded on the first call: most commands never run git, and loading it
// costs about 2 ms of a process that lives 40.

/** git's trimmed output; throws (with git's stderr on the error) when git fails. */
export function git(cwd: string, args: string[], env?: NodeJS.ProcessEnv, maxBuffer = 16 << 20): string {
  return process.getBuiltinModule('node:child_process').execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer, env: env ?? process.env }).trim();
}

/** git's trimmed output, or null when git fails (not a repository, no such ref, …). */
export function gitOrNull(cwd: string, args: string[]): string | null {
  try {
    return git(cwd, args);
  } catch {
    return null;
  }
}

/** The top of the git working tree that holds `dir`, or null outside a repository. */
export const repoRoot = (dir: string): string | null => gitOrNull(dir, ['rev-parse', '--show-toplevel']);

/** git's exit code and combined output, for commands whose failure is an answer (merge, push). */
export function gitStatus(cwd: string, args: string[], env?: NodeJS.ProcessEnv): { code: number; out: string } {
  try {
    return { code: 0, out: git(cwd, args, env) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** A board inside a git repository: the board, the repository's root, the board's path in it. */
export interface BoardRepo {
  dir: string;
  repo: string;
  rel: string;
}

/** The repository's root and the board's path inside it, or null when the board is not in git. */
export function repoOf(dir: string): { repo: string; rel: string } | null {
  const repo = repoRoot(dir);
  return repo ? { repo, rel: relative(repo, dir).split('\\').join('/') || '.' } : null;
}

/**
 * The repository of a board, refusing a BATON_DIR that points into another repository than
 * the one you stand in. `from` is where the command runs: its cwd, env, and --dir if given.
 */
export function boardRepo(dir: string, from: { cwd: string; env: Record<string, string | undefined>; dir?: string | undefined }): BoardRepo {
  const where = repoOf(dir);
  if (!where) throw invalidInput(`The board ${dir} is not inside a git repository.`, 'git init, then baton git install');
  if (!from.dir && from.env.BATON_DIR) {
    const here = repoRoot(from.cwd);
    if (here && resolve(here) !== resolve(where.repo)) {
      throw invalidInput(`BATON_DIR points at a board in another repository (${where.repo}) than the one you are in (${here}).`, `run it in ${where.repo}, or name the board with --dir`, { board: dir, repo: where.repo, cwd_repo: here });
    }
  }
  return { dir, ...where };
}
