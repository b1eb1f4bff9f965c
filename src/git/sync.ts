import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError, invalidInput } from '../rules/errors.js';
import { CONFLICT_NOTE, LOCAL_FILES, readText, unfinishedGitOperation } from './conflicts.js';
import { type BoardRepo, git, gitOrNull, gitStatus } from '../store/gitrun.js';

/** git as sync runs it: in the command's environment, never asking for a password. */
type GitRun = (cwd: string, args: string[], extra?: Record<string, string>) => { code: number; out: string };

// BATON_SYNC tells hooks from older installs not to render: sync holds the board lock and renders itself.
const gitRunner =
  (env: NodeJS.ProcessEnv): GitRun =>
  (cwd, args, extra = {}) =>
    gitStatus(cwd, args, { ...env, BATON_SYNC: '1', GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes', ...extra });

export interface SyncResult {
  revision: number;
  committed: boolean;
  merged: boolean;
  pushed: boolean;
  attempts: number;
}


const firstLines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('hint:'))
    .slice(0, 3)
    .join(' ');

/** Why a merge in sync failed, in words, and the one next step that fixes it. */
function mergeFailure(gitEnv: GitRun, repo: string, rel: string, out: string, remote: string, branch: string, noteText: string): BatonError {
  const unmerged = gitEnv(repo, ['diff', '--name-only', '--diff-filter=U']).out.split('\n').filter(Boolean);
  const board = unmerged.filter((f) => f === rel || f.startsWith(`${rel}/`));
  const other = unmerged.filter((f) => !board.includes(f));
  let why: string;
  let hint: string;
  if (noteText) {
    const tasks = [...noteText.matchAll(/^\| `([^`]+)` \| (\w+) \| (.+?) \| (.+?) \| (ours|theirs) \|$/gm)].map((m) => `${m[1]} (${m[2]}: ${m[3]} here, ${m[4]} on ${remote})`);
    why = `both sides changed ${tasks.join(', ') || 'the same task'}`;
    hint = `git pull --no-rebase ${remote} ${branch}, then follow ${rel}/${CONFLICT_NOTE}`;
  } else if (board.length && gitOrNull(repo, ['config', '--get', 'merge.baton.driver']) === null) {
    why = `this clone has no baton merge driver, so git merged ${board.join(', ')} as text`;
    hint = 'baton git install, then baton sync';
  } else if (other.length) {
    why = `your files conflict with ${remote}/${branch}: ${other.join(', ')}`;
    hint = `git pull ${remote} ${branch} and resolve those files, then baton sync`;
  } else if (/would be overwritten|untracked working tree files/.test(out)) {
    why = `uncommitted changes would be overwritten: ${firstLines(out)}`;
    hint = 'commit or stash those changes, then baton sync';
  } else {
    why = firstLines(out) || 'git merge failed';
    hint = `git pull ${remote} ${branch}, then baton sync`;
  }
  return new BatonError('MERGE_FAILED', `Merging ${remote}/${branch} failed: ${why}. Nothing was pushed; the board is as it was before the merge.`, {
    hint,
    details: { remote, branch, git: out.trim().split('\n').slice(0, 20).join('\n'), unmerged },
  });
}

/** The remote's branch names, or null when it does not answer. */
function remoteBranches(gitEnv: GitRun, repo: string, remote: string): string[] | null {
  const heads = gitEnv(repo, ['ls-remote', '--heads', remote]);
  return heads.code === 0 ? (heads.out.match(/refs\/heads\/\S+/g) ?? []).map((h) => h.slice('refs/heads/'.length)) : null;
}

/** Why a fetch failed: a remote without this branch (and which it has), or git's own words. */
function fetchFailure(remote: string, branch: string, out: string, branches: string[] | null, beforeCommit: boolean): BatonError {
  const nothing = beforeCommit ? 'Nothing was committed or pushed.' : 'Nothing was pushed.';
  const details = { remote, branch, git: out.trim() };
  if (branches?.length) {
    return new BatonError('MERGE_FAILED', `${remote} has no branch ${branch} (it has ${branches.slice(0, 5).join(', ')}). ${nothing}`, {
      hint: `git push -u ${remote} HEAD:${branch} to start ${branch} there, or git switch ${branches[0]}; then baton sync`,
      details: { ...details, remote_branches: branches },
    });
  }
  return new BatonError('MERGE_FAILED', `Fetching ${remote}/${branch} failed: ${firstLines(out)}. ${nothing}`, {
    hint: `check the remote (git fetch ${remote} ${branch}), then baton sync`,
    details,
  });
}

const gitBusy = (busy: string, remote: string, branch: string) =>
  new BatonError('MERGE_FAILED', `git is in the middle of ${busy}; sync would disturb it, so nothing was done.`, {
    hint: `finish it first (baton doctor --repair resolves the board files; then git commit or git ${busy.split(' ')[0]} --continue), then baton sync`,
    details: { remote, branch, operation: busy },
  });

export interface SyncOptions {
  remote?: string | undefined;
  branch?: string | undefined;
}

/**
 * The remote and branch a sync goes to, refusing what no sync can do before anything is written
 * (claim --sync asks before it claims): a repository with no commit yet (its first commit holds
 * more than the board, so a person makes it), a git operation under way, a detached HEAD, a
 * remote that is not set up. Only local git, no network: a remote with no branch yet is found by
 * the fetch.
 */
export function syncTarget(where: BoardRepo, o: SyncOptions): { remote: string; branch: string } {
  const { repo } = where;
  const remote = o.remote ?? 'origin';
  // git also takes a URL or a path where a remote's name goes.
  const hasRemote = gitOrNull(repo, ['remote', 'get-url', remote]) !== null || /[/\\:]/.test(remote);
  const publish = `${hasRemote ? '' : `git remote add ${remote} URL && `}git push -u ${remote} HEAD`;
  if (gitOrNull(repo, ['rev-parse', '-q', '--verify', 'HEAD^{commit}']) === null) {
    throw invalidInput('This repository has no commit yet: sync merges and pushes commits, and the first one is yours to make. Nothing was written.', `git add -A && git commit -m "board" && ${publish}`, { remote, repo });
  }
  const branch = o.branch ?? git(repo, ['rev-parse', '--abbrev-ref', 'HEAD']);
  // Before the detached HEAD: a rebase detaches it, and what to do then is to finish the rebase.
  const busy = unfinishedGitOperation(repo, where.dir);
  if (busy) throw gitBusy(busy, remote, branch);
  if (branch === 'HEAD') {
    throw invalidInput('HEAD is detached (no branch is checked out), so sync has no branch to push to. Nothing was written.', 'git switch BRANCH, then retry (or baton sync --branch BRANCH)', { remote });
  }
  if (!hasRemote) {
    throw invalidInput(`This repository has no remote '${remote}' to sync with. Nothing was written.`, publish, { remote, branch });
  }
  return { remote, branch };
}

/**
 * Commits the board, fetches, merges with the driver, regenerates and commits the generated
 * files, pushes; on a moved remote (push refused) fetches and merges again, with backoff.
 * Under the board lock, so no local writer interleaves. A merge that fails is aborted and
 * reported as MERGE_FAILED with git's words and the next step. With `claimed` (claim --sync,
 * claim-next --sync) a true conflict on that task resolves to the remote's holder: the claim
 * lost its race, exactly that task is the remote's again, and LEASE_CONFLICT says who won.
 */
export async function syncBoard(where: BoardRepo, o: SyncOptions, lockTimeoutMs: number, env: NodeJS.ProcessEnv, claimed?: { task: string; agent: string }): Promise<SyncResult> {
  const gitEnv = gitRunner(env);
  const { dir, repo, rel } = where;
  const { remote, branch } = syncTarget(where, o);
  const boardPaths = ['--', rel, ...LOCAL_FILES.map((f) => `:(exclude)${rel}/${f}`)];
  const { withLock, transactHeld } = await import('../store/tx.js');
  const { renderLatest } = await import('../store/renderlock.js');
  const { loadConfig, readState } = await import('../store/store.js');
  return withLock(dir, lockTimeoutMs, async (lock) => {
    // Never on top of a git operation a person is in the middle of: its abort would take the
    // board writes made since it stopped, and a commit would fail half-way.
    const busy = unfinishedGitOperation(repo, dir);
    if (busy) throw gitBusy(busy, remote, branch);
    /** Reconciles what git changed (a transaction under the lock we hold), regenerates, commits the board. */
    const settle = async (message: string): Promise<boolean> => {
      await transactHeld(dir, lock, await loadConfig(dir), { lockTimeoutMs }, () => undefined);
      // The board files this commit holds are rendered from the state it commits (the render lock
      // is taken while the board lock is held: its holders never take the board lock).
      await renderLatest(dir, lockTimeoutMs, true);
      gitEnv(repo, ['add', '-A', ...boardPaths]);
      if (gitEnv(repo, ['diff', '--cached', '--quiet', ...boardPaths]).code === 0) return false; // nothing to commit
      const c = gitEnv(repo, ['commit', '-q', '-m', `${message} ${(await readState(dir)).revision}`, ...boardPaths]);
      if (c.code !== 0) {
        throw new BatonError('MERGE_FAILED', `Committing the board failed: ${firstLines(c.out)}. Nothing was pushed.`, {
          hint: 'fix what git says (git status), then baton sync',
          details: { remote, branch, git: c.out.trim() },
        });
      }
      return true;
    };
    let committed = false;
    let merged = false;
    let lost: string | null = null;
    for (let attempt = 1; attempt <= 10; attempt++) {
      // Fetched before the first commit, so a remote that can't be read leaves no commit behind.
      const fetched = gitEnv(repo, ['fetch', '-q', remote, branch]);
      // A remote with no branch at all (a new, empty repository): the first sync starts it, as
      // `git push -u` would. A remote that has other branches is not given a new one unasked.
      let first = false;
      if (fetched.code !== 0) {
        const branches = /couldn't find remote ref/.test(fetched.out) ? remoteBranches(gitEnv, repo, remote) : null;
        if (branches?.length === 0) first = true;
        else throw fetchFailure(remote, branch, fetched.out, branches, attempt === 1);
      }
      if (attempt === 1) committed = await settle('baton: board at revision');
      if (!first) {
        const before = gitEnv(repo, ['rev-parse', 'HEAD']).out.trim();
        const m = gitEnv(repo, ['merge', '-q', '--no-edit', 'FETCH_HEAD'], claimed ? { BATON_MERGE_THEIRS: claimed.task } : {});
        if (m.code !== 0) {
          const note = readText(join(dir, CONFLICT_NOTE));
          const err = mergeFailure(gitEnv, repo, rel, m.out, remote, branch, note);
          gitEnv(repo, ['merge', '--abort']);
          // The note described a merge that no longer exists: its steps would do nothing now.
          rmSync(join(dir, CONFLICT_NOTE), { force: true });
          throw err;
        }
        merged ||= gitEnv(repo, ['rev-parse', 'HEAD']).out.trim() !== before;
        await settle('baton: board files at revision');
      }
      if (claimed) {
        const task = (await readState(dir)).tasks[claimed.task];
        lost = task && task.assignee === claimed.agent ? null : task ? `now ${task.status}${task.assignee ? `, held by ${task.assignee}` : ''}` : 'gone';
      }
      const pushed = gitEnv(repo, ['push', '-q', ...(first ? ['-u'] : []), remote, `HEAD:${branch}`]);
      if (pushed.code === 0) {
        if (claimed && lost !== null) {
          throw new BatonError('LEASE_CONFLICT', `${claimed.task} changed on another machine first (${lost}); your claim was dropped and the board is synced.`, {
            hint: 'baton next',
            details: { task: claimed.task, state: lost },
          });
        }
        return { revision: (await readState(dir)).revision, committed, merged, pushed: true, attempts: attempt };
      }
      if (!/\[rejected\]|non-fast-forward|fetch first|failed to push some refs/.test(pushed.out) || /Permission|denied|not found|does not appear/i.test(pushed.out)) {
        throw new BatonError('MERGE_FAILED', `Pushing to ${remote}/${branch} failed: ${firstLines(pushed.out)}.`, {
          hint: `check you can push (git push ${remote} HEAD:${branch}), then baton sync`,
          details: { remote, branch, git: pushed.out.trim() },
        });
      }
      // Jittered exponential backoff (about 10 s in all): machines that collided spread out.
      await sleep(Math.min(2000, 50 * 2 ** attempt) * (0.5 + Math.random()));
    }
    throw new BatonError('BOARD_BUSY', `Pushing to ${remote}/${branch} kept failing: the remote moves faster than this machine can merge.`, { hint: 'baton sync again' });
  });
}
