import { execFileSync } from 'node:child_process';

// One way to run git for every command that asks it something: no shell, output as text.

/** git's trimmed output; throws (with git's stderr on the error) when git fails. */
export function git(cwd: string, args: string[], env?: NodeJS.ProcessEnv, maxBuffer = 16 << 20): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer, env: env ?? process.env }).trim();
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
