import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { BatonError, invalidInput } from '../core/errors.js';
import { git, gitOrNull, gitStatus, repoRoot } from '../core/git.js';
import { shellQuote } from '../core/shell.js';
import { type MergeConflict, mergeEvents, mergeStates } from '../core/merge.js';
import { parseEventLog } from '../core/events.js';
import { parseState, serializeState, writeFileAtomic } from '../core/store.js';
import type { BatonEvent, State } from '../core/types.js';
import { boardDir, type Ctx } from './context.js';

// BATON_SYNC tells hooks from older installs not to render: sync holds the board lock and renders itself.
const gitEnv = (cwd: string, args: string[], extra: Record<string, string> = {}) =>
  gitStatus(cwd, args, { ...process.env, BATON_SYNC: '1', GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes', ...extra });

export const CONFLICT_NOTE = 'MERGE-CONFLICT.md';

/** Board files that must never be committed: local read positions and the note of a merge in progress. */
const LOCAL_FILES = [CONFLICT_NOTE, 'cursors.json', 'cursors.seen'];

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const isEventsFile = (name: string) => /(^|\/)events\.jsonl$/.test(name) || /(^|\/)archive\/events\/[^/]+\.jsonl$/.test(name);
const isGenerated = (name: string) => /^[A-Z]+\.md$/.test(name) || /^handoffs\/[^/]+\.md$/.test(name) || name === 'handoff-index.json';
// A torn last line (a crashed writer's, committed by accident) is dropped as the live log's reader does.
const parseEvents = (text: string, file: string): BatonEvent[] => parseEventLog(text, file, { live: true, markers: true }).events;
const cell = (v: unknown) => JSON.stringify(v).replace(/\|/g, '\\|');

function conflictNote(board: string, conflicts: MergeConflict[]): string {
  return [
    '# baton: both sides changed the same task',
    '',
    'Both sides of this merge changed the status or holder of the tasks below, and baton does',
    'not guess which is right. Nothing is lost: the board in your working tree is already merged',
    '(every task and every event of both sides), and each task below holds the value of the side',
    'that changed it last, the "kept" column. This note is not committed.',
    '',
    '| task | field | ours | theirs | kept |',
    '| --- | --- | --- | --- | --- |',
    ...conflicts.map((c) => `| \`${c.task}\` | ${c.field} | ${cell(c.ours)} | ${cell(c.theirs)} | ${c.kept} |`),
    '',
    'To finish, in this order:',
    '',
    `1. \`baton doctor --repair\`: marks the board files resolved (and merges them from git's index`,
    '   first if this clone has no merge driver, or if they hold conflict markers).',
    '2. For each task above whose kept value is wrong, set it with baton: `baton release ID`,',
    '   `baton block ID --reason "…"`, `baton unblock ID`, `baton cancel ID`.',
    `3. \`git add ${board}\`, then finish what git was doing: \`git commit\` (a merge),`,
    '   `git rebase --continue`, `git cherry-pick --continue` or `git revert --continue`.',
    `4. Delete this note. \`baton doctor\` reports it until then.`,
    '',
    'Never resolve the board with `git checkout --ours` or `--theirs`: that drops the other side.',
    '',
  ].join('\n');
}

/** Merges three versions of a board file (state.json, events.jsonl or an archive) as the driver does. */
async function mergeBoardFile(name: string, base: string, ours: string, theirs: string): Promise<{ text: string; revision: number; conflicts: MergeConflict[] }> {
  if (isEventsFile(name) || (!name.endsWith('.json') && !ours.trimStart().startsWith('{\n'))) {
    const merged = mergeEvents(parseEvents(base, `${name} (base)`), parseEvents(ours, `${name} (ours)`), parseEvents(theirs, `${name} (theirs)`));
    return { text: merged.map((e) => `${JSON.stringify(e)}\n`).join(''), revision: merged.at(-1)?.revision ?? 0, conflicts: [] };
  }
  const b: State | null = base.trim() ? await parseState(base, `${name} (base)`) : null;
  // A side that deleted the file (modify/delete) leaves the other side's board whole.
  const o = ours.trim() ? await parseState(ours, `${name} (ours)`) : null;
  const t = theirs.trim() ? await parseState(theirs, `${name} (theirs)`) : null;
  const prefer = new Set((process.env.BATON_MERGE_THEIRS ?? '').split(',').filter(Boolean));
  const { state, conflicts } = o && t ? mergeStates(b, o, t, prefer) : { state: (o ?? t)!, conflicts: [] };
  return { text: serializeState(state), revision: state.revision, conflicts };
}

export interface MergeDriverResult {
  revision: number;
  merged: string;
  conflicts: MergeConflict[];
}

/**
 * `baton merge-driver BASE OURS THEIRS [PATH]`, run by git (%O %A %B %P) in every merge,
 * rebase, cherry-pick, revert and stash: merges state.json per task, or events.jsonl (and
 * archives) by event id, into OURS. Silent on success. When both sides changed one task's
 * status or holder, OURS still gets the whole merged board (the side that changed it last
 * kept), a note is written beside the board, and the exit is non-zero so git asks a person.
 */
export async function mergeDriver(base: string, ours: string, theirs: string, path: string | undefined): Promise<MergeDriverResult> {
  const name = path ?? ours;
  const r = await mergeBoardFile(name, readText(base), readText(ours), readText(theirs));
  writeFileSync(ours, r.text);
  if (r.conflicts.length) {
    const board = dirname(name);
    const note = join(dirname(resolve(name)), CONFLICT_NOTE);
    writeFileSync(note, conflictNote(board, r.conflicts));
    throw new BatonError('INVALID_TRANSITION', `Both sides changed ${r.conflicts.map((c) => `${c.task} (${c.field}: ${JSON.stringify(c.ours)} vs ${JSON.stringify(c.theirs)})`).join(', ')}; the board is merged, see ${note}.`, {
      hint: `follow ${join(board, CONFLICT_NOTE)}`,
      details: { conflicts: r.conflicts, note },
    });
  }
  return { revision: r.revision, merged: name, conflicts: [] };
}

// ---------------------------------------------------------------- resolving from git's index

export interface IndexResolution {
  /** Board files merged from git's index stages and marked resolved. */
  resolved: string[];
  /** Board files in conflict that baton can't merge (config.yaml, preflight.json …). */
  left: string[];
  conflicts: MergeConflict[];
}

/** The repository's root and the board's path inside it, or null when the board is not in git. */
function repoOf(dir: string): { repo: string; rel: string } | null {
  const repo = repoRoot(dir);
  return repo ? { repo, rel: relative(repo, dir).split('\\').join('/') || '.' } : null;
}

/** Board files git left unmerged (a merge, rebase, cherry-pick, revert or stash pop in progress). */
export function unmergedBoardFiles(dir: string): Map<string, Record<number, string>> {
  const where = repoOf(dir);
  const out = new Map<string, Record<number, string>>();
  if (!where) return out;
  const listed = gitStatus(where.repo, ['ls-files', '-u', '-z', '--', where.rel]);
  if (listed.code !== 0) return out;
  for (const entry of listed.out.split('\0')) {
    const m = /^\d+ ([0-9a-f]+) ([123])\t(.+)$/.exec(entry);
    if (!m) continue;
    const stages = out.get(m[3]!) ?? {};
    stages[Number(m[2])] = m[1]!;
    out.set(m[3]!, stages);
  }
  return out;
}

/**
 * Resolves the board files of a conflicted git operation from git's index stages with baton's
 * own merge, then marks them resolved: one command for a clone without the driver, or for a
 * file a person left with conflict markers. Generated files get any side and are regenerated
 * by the repair that follows.
 */
export async function resolveFromIndex(dir: string): Promise<IndexResolution> {
  const result: IndexResolution = { resolved: [], left: [], conflicts: [] };
  const where = repoOf(dir);
  if (!where) return result;
  const blob = (sha: string | undefined) => (sha ? git(where.repo, ['cat-file', 'blob', sha], undefined, 1 << 30) : '');
  const marked = (text: string) => /^(<{7}|>{7})( |$)/m.test(text);
  for (const [path, stages] of unmergedBoardFiles(dir)) {
    const inBoard = where.rel === '.' ? path : path.slice(where.rel.length + 1);
    const file = join(where.repo, path);
    const working = readText(file);
    if (inBoard === 'state.json' || isEventsFile(inBoard)) {
      // Merged by the driver already (a true conflict it would not guess): that file also holds
      // every board write made since, so it is the resolution. Only git's text merge is redone.
      let merged = !marked(working);
      if (merged && inBoard === 'state.json') merged = await parseState(working, path).then(() => true, () => false);
      if (!merged) {
        const r = await mergeBoardFile(path, blob(stages[1]), blob(stages[2]), blob(stages[3]));
        writeFileAtomic(file, r.text, true);
        for (const c of r.conflicts) result.conflicts.push(c);
      }
    } else if (isGenerated(inBoard) || LOCAL_FILES.includes(inBoard)) {
      if (marked(working) || !working) writeFileAtomic(file, blob(stages[2] ?? stages[3]), false);
    } else {
      result.left.push(path);
      continue;
    }
    result.resolved.push(path);
  }
  if (result.conflicts.length) writeFileSync(join(dir, CONFLICT_NOTE), conflictNote(where.rel, result.conflicts));
  if (result.resolved.length) git(where.repo, ['add', '--', ...result.resolved]);
  return result;
}

/** The two sides of a file holding git conflict markers (the base section of diff3 style dropped). */
export function splitConflictMarkers(text: string): { ours: string; theirs: string } | null {
  if (!/^<{7}( |$)/m.test(text)) return null;
  const ours: string[] = [];
  const theirs: string[] = [];
  let side: 'both' | 'ours' | 'base' | 'theirs' = 'both';
  for (const line of text.split('\n')) {
    if (/^<{7}( |$)/.test(line)) side = 'ours';
    else if (/^\|{7}( |$)/.test(line) && side === 'ours') side = 'base';
    else if (/^={7}$/.test(line) && side !== 'both') side = 'theirs';
    else if (/^>{7}( |$)/.test(line) && side === 'theirs') side = 'both';
    else {
      if (side === 'both' || side === 'ours') ours.push(line);
      if (side === 'both' || side === 'theirs') theirs.push(line);
    }
  }
  return { ours: ours.join('\n'), theirs: theirs.join('\n') };
}

/**
 * state.json left with conflict markers after git's own text merge (a clone without the driver)
 * and already out of git's index: both sides are taken from the markers and merged per task.
 */
export async function resolveMarkers(dir: string): Promise<{ resolved: boolean; conflicts: MergeConflict[] }> {
  const file = join(dir, 'state.json');
  const sides = splitConflictMarkers(readText(file));
  if (!sides) return { resolved: false, conflicts: [] };
  const r = await mergeBoardFile('state.json', '', sides.ours, sides.theirs);
  writeFileAtomic(file, r.text, true);
  if (r.conflicts.length) writeFileSync(join(dir, CONFLICT_NOTE), conflictNote(repoOf(dir)?.rel ?? dir, r.conflicts));
  return { resolved: true, conflicts: r.conflicts };
}

/** After a repair rewrote resolved files (reconciled, regenerated), stage them again. */
export function restage(dir: string, paths: string[]): void {
  const where = repoOf(dir);
  if (where && paths.length) gitStatus(where.repo, ['add', '--', ...paths.filter((p) => existsSync(join(where.repo, p)))]);
}

/** The git operation stopped in this repository (a merge, rebase, cherry-pick, revert), or null. */
function unfinishedGitOperation(repo: string, dir: string): string | null {
  const names = ['rebase-merge', 'rebase-apply', 'MERGE_HEAD', 'CHERRY_PICK_HEAD', 'REVERT_HEAD'];
  const paths = git(repo, ['rev-parse', ...names.flatMap((n) => ['--git-path', n])]).split('\n');
  const there = (n: string) => existsSync(resolve(repo, paths[names.indexOf(n)]!));
  if (there('rebase-merge') || there('rebase-apply')) return 'rebase (a rebase)';
  if (there('MERGE_HEAD')) return 'merge (a merge)';
  if (there('CHERRY_PICK_HEAD')) return 'cherry-pick (a cherry-pick)';
  if (there('REVERT_HEAD')) return 'revert (a revert)';
  if (unmergedBoardFiles(dir).size) return 'merge (unresolved board files)';
  return null;
}

/** What doctor says about git: files left unmerged, and a driver named but not installed here. */
export function gitChecks(dir: string): { unmerged: string[]; driverMissing: boolean; ignoreMissing: string[] } {
  const where = repoOf(dir);
  if (!where) return { unmerged: [], driverMissing: false, ignoreMissing: [] };
  const unmerged = [...unmergedBoardFiles(dir).keys()];
  const attrs = readText(join(where.repo, '.gitattributes'));
  const named = /\smerge=baton(\s|$)/m.test(attrs);
  const driverMissing = named && gitOrNull(where.repo, ['config', '--get', 'merge.baton.driver']) === null;
  const ignore = readText(join(dir, '.gitignore')).split('\n').map((l) => l.trim());
  const ignoreMissing = named ? LOCAL_FILES.filter((f) => !ignore.includes(f)) : [];
  return { unmerged, driverMissing, ignoreMissing };
}

// ---------------------------------------------------------------- git install / uninstall

const START = '# baton:start';
const END = '# baton:end';

function replaceBlock(text: string, block: string | null, comment = '#'): string {
  const s = text.indexOf(START.replace('#', comment));
  const e = text.indexOf(END.replace('#', comment));
  const without = s >= 0 && e > s ? `${text.slice(0, s).trimEnd()}${text.slice(e + END.length).replace(/^\n+/, '\n')}` : text;
  if (block === null) return without.trim() ? `${without.trimEnd()}\n` : '';
  return `${without.trimEnd() ? `${without.trimEnd()}\n\n` : ''}${block}\n`;
}

export interface GitInstallResult {
  revision: number;
  repo: string;
  changed: string[];
}

/** The repository of a board, refusing a BATON_DIR that points into another repository than the one you stand in. */
function boardRepo(ctx: Ctx): { dir: string; repo: string; rel: string } {
  const dir = boardDir(ctx);
  const where = repoOf(dir);
  if (!where) throw invalidInput(`The board ${dir} is not inside a git repository.`, 'git init, then baton git install');
  if (!ctx.dir && ctx.env.BATON_DIR) {
    const here = repoRoot(ctx.cwd);
    if (here && resolve(here) !== resolve(where.repo)) {
      throw invalidInput(`BATON_DIR points at a board in another repository (${where.repo}) than the one you are in (${here}).`, `run it in ${where.repo}, or name the board with --dir`, { board: dir, repo: where.repo, cwd_repo: here });
    }
  }
  return { dir, ...where };
}

/**
 * .gitattributes lines, the drivers in .git/config and the board's ignore lines; idempotent.
 * No hook writes the working tree any more (it left the tree dirty and blocked checkouts):
 * generated files are regenerated by the next baton write, `baton render` or `baton sync`, and
 * `doctor` says when they are stale. An older install's post-merge hook block is removed.
 */
export async function install(ctx: Ctx, remove = false): Promise<GitInstallResult> {
  const { dir, repo, rel } = boardRepo(ctx);
  const bin = ctx.bin;
  const changed: string[] = [];
  const attributes = join(repo, '.gitattributes');
  const block = [
    START,
    `${rel}/state.json merge=baton`,
    `${rel}/events.jsonl merge=baton`,
    `${rel}/archive/events/*.jsonl merge=baton`,
    `${rel}/*.md linguist-generated=true merge=baton-generated`,
    `${rel}/handoffs/*.md linguist-generated=true merge=baton-generated`,
    `${rel}/handoff-index.json linguist-generated=true merge=baton-generated`,
    END,
  ].join('\n');
  const before = readText(attributes);
  const after = replaceBlock(before, remove ? null : block);
  if (after !== before) {
    if (after) writeFileSync(attributes, after);
    else rmSync(attributes, { force: true });
    changed.push('.gitattributes');
  }
  const config: [string, string][] = [
    ['merge.baton.name', 'baton: merge boards per task and events by id'],
    ['merge.baton.driver', `${shellQuote(process.execPath)} ${shellQuote(bin)} merge-driver %O %A %B %P`],
    ['merge.baton-generated.name', 'baton: generated files are regenerated by the next baton write'],
    ['merge.baton-generated.driver', 'true'],
  ];
  for (const [k, v] of config) {
    const current = gitOrNull(repo, ['config', '--local', '--get', k]);
    if (remove) {
      if (current !== null) {
        git(repo, ['config', '--local', '--unset', k]);
        changed.push(`git config ${k}`);
      }
    } else if (current !== v) {
      git(repo, ['config', '--local', k, v]);
      changed.push(`git config ${k}`);
    }
  }
  // The board's own ignore lines: what is local to this clone never reaches a commit.
  if (!remove) {
    const ignorePath = join(dir, '.gitignore');
    const ignore = readText(ignorePath);
    const lines = ignore.split('\n').map((l) => l.trim());
    const missing = LOCAL_FILES.filter((f) => !lines.includes(f));
    if (missing.length) {
      writeFileSync(ignorePath, `${ignore.trimEnd()}${ignore.trim() ? '\n' : ''}${missing.join('\n')}\n`);
      changed.push(join(rel, '.gitignore'));
    }
    for (const f of LOCAL_FILES) {
      const path = `${rel}/${f}`;
      if (gitOrNull(repo, ['ls-files', '--error-unmatch', '--', path]) !== null) {
        git(repo, ['rm', '-q', '--cached', '--', path]);
        changed.push(`git rm --cached ${path}`);
      }
    }
  }
  const hooks = resolve(repo, git(repo, ['rev-parse', '--git-path', 'hooks']));
  const hook = join(hooks, 'post-merge');
  const hookBefore = readText(hook);
  let hookAfter = replaceBlock(hookBefore, null);
  if (hookAfter.trim() === '#!/bin/sh') hookAfter = '';
  if (hookBefore && hookAfter !== hookBefore) {
    if (hookAfter) {
      writeFileSync(hook, hookAfter);
      chmodSync(hook, 0o755);
    } else rmSync(hook, { force: true });
    changed.push(relative(repo, hook));
  }
  return { revision: 0, repo, changed };
}

export const renderInstall = (r: GitInstallResult) => (r.changed.length ? `Changed in ${basename(r.repo)}: ${r.changed.join(', ')}.` : 'Already in place; nothing changed.');

// ---------------------------------------------------------------- sync

export interface SyncResult {
  revision: number;
  committed: boolean;
  merged: boolean;
  pushed: boolean;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const firstLines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('hint:'))
    .slice(0, 3)
    .join(' ');

/** Why a merge in sync failed, in words, and the one next step that fixes it. */
function mergeFailure(repo: string, rel: string, out: string, remote: string, branch: string, noteText: string): BatonError {
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

export interface SyncOptions {
  remote?: string | undefined;
  branch?: string | undefined;
}

/**
 * Commits the board, fetches, merges with the driver, regenerates and commits the generated
 * files, pushes; on a moved remote (push refused) fetches and merges again, with backoff.
 * Under the board lock, so no local writer interleaves. A merge that fails is aborted and
 * reported as MERGE_FAILED with git's words and the next step. With `claimed` (claim --sync,
 * claim-next --sync) a true conflict on that task resolves to the remote's holder: the claim
 * lost its race, exactly that task is the remote's again, and LEASE_CONFLICT says who won.
 */
export async function sync(o: SyncOptions, ctx: Ctx, claimed?: { task: string; agent: string }): Promise<SyncResult> {
  const { dir, repo, rel } = boardRepo(ctx);
  const remote = o.remote ?? 'origin';
  const branch = o.branch ?? git(repo, ['rev-parse', '--abbrev-ref', 'HEAD']);
  const boardPaths = ['--', rel, ...LOCAL_FILES.map((f) => `:(exclude)${rel}/${f}`)];
  const { withLock, transactHeld } = await import('../core/tx.js');
  const { loadConfig, readState } = await import('../core/store.js');
  return withLock(dir, ctx.lockTimeoutMs, async (lock) => {
    // Never on top of a git operation a person is in the middle of: its abort would take the
    // board writes made since it stopped, and a commit would fail half-way.
    const busy = unfinishedGitOperation(repo, dir);
    if (busy) {
      throw new BatonError('MERGE_FAILED', `git is in the middle of ${busy}; sync would disturb it, so nothing was done.`, {
        hint: `finish it first (baton doctor --repair resolves the board files; then git commit or git ${busy.split(' ')[0]} --continue), then baton sync`,
        details: { remote, branch, operation: busy },
      });
    }
    /** Reconciles what git changed (a transaction under the lock we hold), regenerates, commits the board. */
    const settle = async (message: string): Promise<boolean> => {
      await transactHeld(dir, lock, await loadConfig(dir), {
        lockTimeoutMs: ctx.lockTimeoutMs,
        onRendered: () => undefined,
      }, () => undefined);
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
    const committed = await settle('baton: board at revision');
    let merged = false;
    let lost: string | null = null;
    for (let attempt = 1; attempt <= 10; attempt++) {
      const fetched = gitEnv(repo, ['fetch', '-q', remote, branch]);
      if (fetched.code !== 0) {
        throw new BatonError('MERGE_FAILED', `Fetching ${remote}/${branch} failed: ${firstLines(fetched.out)}. Nothing was pushed.`, {
          hint: `check the remote (git fetch ${remote} ${branch}), then baton sync`,
          details: { remote, branch, git: fetched.out.trim() },
        });
      }
      const before = gitEnv(repo, ['rev-parse', 'HEAD']).out.trim();
      const m = gitEnv(repo, ['merge', '-q', '--no-edit', 'FETCH_HEAD'], claimed ? { BATON_MERGE_THEIRS: claimed.task } : {});
      if (m.code !== 0) {
        const note = readText(join(dir, CONFLICT_NOTE));
        const err = mergeFailure(repo, rel, m.out, remote, branch, note);
        gitEnv(repo, ['merge', '--abort']);
        // The note described a merge that no longer exists: its steps would do nothing now.
        rmSync(join(dir, CONFLICT_NOTE), { force: true });
        throw err;
      }
      merged ||= gitEnv(repo, ['rev-parse', 'HEAD']).out.trim() !== before;
      await settle('baton: board files at revision');
      if (claimed) {
        const task = (await readState(dir)).tasks[claimed.task];
        lost = task && task.assignee === claimed.agent ? null : task ? `now ${task.status}${task.assignee ? `, held by ${task.assignee}` : ''}` : 'gone';
      }
      const pushed = gitEnv(repo, ['push', '-q', remote, `HEAD:${branch}`]);
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

export const renderSync = (r: SyncResult) =>
  `Synced at revision ${r.revision}: ${[r.committed ? 'committed' : 'nothing new to commit', r.merged ? 'merged the remote' : null, r.pushed ? 'pushed' : null].filter(Boolean).join(', ')}${r.attempts > 1 ? ` (${r.attempts} attempts)` : ''}.`;
