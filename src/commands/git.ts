import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { BatonError, invalidInput } from '../core/errors.js';
import { git, gitStatus } from '../core/git.js';
import { type MergeConflict, mergeEvents, mergeStates } from '../core/merge.js';
import { parseState, serializeState } from '../core/store.js';
import type { BatonEvent, State } from '../core/types.js';
import { boardDir, type Ctx } from './context.js';

// BATON_SYNC tells the post-merge hook not to render: sync holds the board lock and renders itself.
const gitEnv = (cwd: string, args: string[]) => gitStatus(cwd, args, { ...process.env, BATON_SYNC: '1' });

export const CONFLICT_NOTE = 'MERGE-CONFLICT.md';

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const parseLog = (text: string): BatonEvent[] =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as BatonEvent);

function conflictNote(path: string, conflicts: MergeConflict[]): string {
  return [
    '# baton: a merge conflict on the board',
    '',
    `Merging \`${path}\`, both sides changed the same task's status or holder; baton did not guess.`,
    '',
    '| task | field | ours | theirs |',
    '| --- | --- | --- | --- |',
    ...conflicts.map((c) => `| \`${c.task}\` | ${c.field} | ${JSON.stringify(c.ours)} | ${JSON.stringify(c.theirs)} |`),
    '',
    'To resolve: keep one side of the file (`git checkout --ours` or `--theirs` ' + `\`${path}\`` + '), then set each task',
    'above to what it should be (`baton edit`, `baton block`, `baton release` …), `git add` the board,',
    `delete this note, and finish the merge. \`baton doctor\` reports this note until it is gone.`,
    '',
  ].join('\n');
}

/**
 * `baton merge-driver BASE OURS THEIRS [PATH]`, run by git (%O %A %B %P): merges state.json
 * per task, or events.jsonl by event id, into OURS. Exit 1, with a conflict note beside the
 * board, when both sides changed one task's status or holder.
 */
export async function mergeDriver(base: string, ours: string, theirs: string, path: string | undefined): Promise<{ revision: number; merged: string; conflicts: MergeConflict[] }> {
  const name = path ?? ours;
  const oursText = readText(ours);
  if (name.endsWith('events.jsonl') || (!name.endsWith('.json') && !oursText.trimStart().startsWith('{\n'))) {
    const merged = mergeEvents(parseLog(readText(base)), parseLog(oursText), parseLog(readText(theirs)));
    writeFileSync(ours, merged.map((e) => `${JSON.stringify(e)}\n`).join(''));
    return { revision: merged.at(-1)?.revision ?? 0, merged: name, conflicts: [] };
  }
  const baseText = readText(base);
  const b: State | null = baseText.trim() ? await parseState(baseText, `${name} (base)`) : null;
  const o = await parseState(oursText, `${name} (ours)`);
  const t = await parseState(readText(theirs), `${name} (theirs)`);
  const { state, conflicts } = mergeStates(b, o, t);
  if (conflicts.length) {
    const note = join(dirname(resolve(name)), CONFLICT_NOTE);
    writeFileSync(note, conflictNote(name, conflicts));
    throw new BatonError('INVALID_TRANSITION', `Both sides changed ${conflicts.map((c) => `${c.task} (${c.field}: ${JSON.stringify(c.ours)} vs ${JSON.stringify(c.theirs)})`).join(', ')}; see ${note}.`, {
      hint: `resolve as ${CONFLICT_NOTE} says`,
      details: { conflicts, note },
    });
  }
  writeFileSync(ours, serializeState(state));
  return { revision: state.revision, merged: name, conflicts: [] };
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

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** .gitattributes lines, the drivers in .git/config and a post-merge hook; idempotent. */
export async function install(ctx: Ctx, remove = false): Promise<GitInstallResult> {
  const dir = boardDir(ctx);
  let repo: string;
  try {
    repo = git(dir, ['rev-parse', '--show-toplevel']);
  } catch {
    throw invalidInput(`The board ${dir} is not inside a git repository.`, 'git init, then baton git install');
  }
  const rel = relative(repo, dir).split('\\').join('/') || '.';
  const bin = resolve(process.argv[1]!);
  const changed: string[] = [];
  const attributes = join(repo, '.gitattributes');
  const block = [
    START,
    `${rel}/state.json merge=baton`,
    `${rel}/events.jsonl merge=baton`,
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
    ['merge.baton.driver', `${q(process.execPath)} ${q(bin)} merge-driver %O %A %B %P`],
    ['merge.baton-generated.name', 'baton: generated files are regenerated after a merge'],
    ['merge.baton-generated.driver', 'true'],
  ];
  for (const [k, v] of config) {
    let current: string | null = null;
    try {
      current = git(repo, ['config', '--local', '--get', k]);
    } catch {
      current = null;
    }
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
  const hooks = resolve(repo, git(repo, ['rev-parse', '--git-path', 'hooks']));
  const hook = join(hooks, 'post-merge');
  const hookBefore = readText(hook);
  const hookBlock = [START, `# Regenerates baton's Markdown from the merged state (baton sync renders itself).`, `[ -n "$BATON_SYNC" ] || ${q(process.execPath)} ${q(bin)} render --dir ${q(dir)} >/dev/null 2>&1 || true`, END].join('\n');
  let hookAfter = replaceBlock(hookBefore.startsWith('#!') || remove ? hookBefore : `#!/bin/sh\n${hookBefore}`, remove ? null : hookBlock);
  if (remove && hookAfter.trim() === '#!/bin/sh') hookAfter = '';
  if (hookAfter !== hookBefore) {
    if (hookAfter) {
      mkdirSync(hooks, { recursive: true });
      writeFileSync(hook, hookAfter);
      chmodSync(hook, 0o755);
    } else rmSync(hook, { force: true });
    changed.push(relative(repo, hook));
  }
  return { revision: 0, repo, changed };
}

export const renderInstall = (r: GitInstallResult) => (r.changed.length ? `Changed in ${basename(r.repo)}: ${r.changed.join(', ')}.` : 'Already in place; nothing changed.');

export const conflictNoteExists = (dir: string) => existsSync(join(dir, CONFLICT_NOTE));

// ---------------------------------------------------------------- sync

export interface SyncResult {
  revision: number;
  committed: boolean;
  merged: boolean;
  pushed: boolean;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Commits the board, fetches, merges with the driver, pushes; on a moved remote (push
 * refused) fetches and merges again, with backoff. Under the board lock, so no local writer
 * interleaves. A conflict the driver won't guess aborts the merge and is reported; with
 * `dropLocalOnConflict` (claim --sync) the local board commits are dropped instead, so the
 * board is the remote's again.
 */
export async function sync(o: { remote?: string; branch?: string }, ctx: Ctx, dropLocalOnConflict = false): Promise<SyncResult> {
  const dir = boardDir(ctx);
  let repo: string;
  try {
    repo = git(dir, ['rev-parse', '--show-toplevel']);
  } catch {
    throw invalidInput(`The board ${dir} is not inside a git repository.`, 'git init, then baton git install');
  }
  const rel = relative(repo, dir) || '.';
  const remote = o.remote ?? 'origin';
  const branch = o.branch ?? git(repo, ['rev-parse', '--abbrev-ref', 'HEAD']);
  const { withLock } = await import('../core/tx.js');
  return withLock(dir, ctx.lockTimeoutMs, async () => {
    const { readState: read, readConfig: config, writeProjections: write } = await import('../core/store.js');
    const { renderProjections } = await import('../render/projections.js');
    const { recentNotifications } = await import('../core/events.js');
    const state = await read(dir);
    gitEnv(repo, ['add', '-A', '--', rel]);
    const committed = gitEnv(repo, ['commit', '-q', '-m', `baton: board at revision ${state.revision}`, '--', rel]).code === 0;
    let merged = false;
    for (let attempt = 1; attempt <= 6; attempt++) {
      const fetched = gitEnv(repo, ['fetch', '-q', remote, branch]);
      if (fetched.code === 0) {
        const before = gitEnv(repo, ['rev-parse', 'HEAD']).out.trim();
        const m = gitEnv(repo, ['merge', '-q', '--no-edit', 'FETCH_HEAD']);
        if (m.code !== 0) {
          gitEnv(repo, ['merge', '--abort']);
          if (dropLocalOnConflict) {
            const unpushed = gitEnv(repo, ['diff', '--name-only', 'FETCH_HEAD', 'HEAD']).out.split('\n').filter(Boolean);
            if (unpushed.every((f) => f === rel || f.startsWith(`${rel}/`))) gitEnv(repo, ['reset', '-q', '--hard', 'FETCH_HEAD']);
            rmSync(join(dir, CONFLICT_NOTE), { force: true });
          }
          const note = existsSync(join(dir, CONFLICT_NOTE)) ? ` (see ${join(rel, CONFLICT_NOTE)})` : '';
          throw new BatonError('LEASE_CONFLICT', `The remote board changed the same task's status or holder${note}; nothing was pushed.`, {
            hint: dropLocalOnConflict ? 'baton next: the board is the remote\'s again' : `resolve as ${CONFLICT_NOTE} says`,
            details: { remote, branch },
          });
        }
        merged ||= gitEnv(repo, ['rev-parse', 'HEAD']).out.trim() !== before;
        // Generated files kept our side in the merge: regenerate them from the merged state and commit that too.
        const after = await read(dir);
        if (write(dir, renderProjections(after, await config(dir), recentNotifications(dir, after.seq))).length) {
          gitEnv(repo, ['add', '-A', '--', rel]);
          gitEnv(repo, ['commit', '-q', '-m', `baton: board files at revision ${after.revision}`, '--', rel]);
        }
      }
      const pushed = gitEnv(repo, ['push', '-q', remote, `HEAD:${branch}`]);
      if (pushed.code === 0) return { revision: (await read(dir)).revision, committed, merged, pushed: true, attempts: attempt };
      await sleep(50 * attempt + Math.floor(Math.random() * 100 * attempt));
    }
    throw new BatonError('BOARD_BUSY', `Pushing to ${remote}/${branch} kept failing: the remote moves faster than this machine can merge.`, { hint: 'baton sync again' });
  });
}

export const renderSync = (r: SyncResult) =>
  `Synced at revision ${r.revision}: ${[r.committed ? 'committed' : 'nothing new to commit', r.merged ? 'merged the remote' : null, r.pushed ? 'pushed' : null].filter(Boolean).join(', ')}${r.attempts > 1 ? ` (${r.attempts} attempts)` : ''}.`;
