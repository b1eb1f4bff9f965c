import { gitOrNull as git } from '../store/gitrun.js';

/** Where the work stands in git: the branch and `git diff --stat` (against where the branch left the default branch, or HEAD). */
export function gitContext(cwd: string): { branch: string | null; diff_stat: string | null } {
  const branch = git(cwd, ['rev-parse', '--abbrev-ref', 'HEAD']);
  if (branch === null) return { branch: null, diff_stat: null };
  let base = 'HEAD';
  for (const ref of ['origin/HEAD', 'origin/main', 'main', 'master']) {
    const mb = git(cwd, ['merge-base', 'HEAD', ref]);
    if (mb) {
      base = mb;
      break;
    }
  }
  const stat = git(cwd, ['diff', '--stat', base]);
  return { branch, diff_stat: stat ? stat.split('\n').slice(-40).join('\n') : '' };
}
