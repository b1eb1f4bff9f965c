import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BatonError } from '../rules/errors.js';
import { parseEventLog } from '../store/eventlog.js';
import { git, gitOrNull, gitStatus, repoOf, repoRoot } from '../store/gitrun.js';
import { type MergeConflict, mergeEvents, mergeStates } from '../rules/merge.js';
import { parseState, readShardTasks, serializeState, writeFileAtomic, writeWholeState } from '../store/store.js';
import { boardText, isShardName, LAYOUT, SHARD_DIR, shardOf, shardText } from '../rules/layout.js';
import type { BatonEvent, State, Task } from '../rules/types.js';

// The board's side of git: the merge driver, resolving a stopped merge from git's index or
// from conflict markers, and what doctor checks. Every merge is baton's own (merge.ts).

export const CONFLICT_NOTE = 'MERGE-CONFLICT.md';

/** Board files that must never be committed: local read positions and the note of a merge in progress. */
export const LOCAL_FILES = [CONFLICT_NOTE, 'cursors.json', 'cursors.seen', 'hook-sessions.json'];

export function readText(path: string): string {
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

const noteRow = (c: MergeConflict) => `| \`${c.task}\` | ${c.field} | ${cell(c.ours)} | ${cell(c.theirs)} | ${c.kept} |`;
/** A row's task and field: the first two cells. */
const rowKey = (row: string) => row.split(' | ').slice(0, 2).join(' | ');

/**
 * Writes the conflict note beside the board. git runs the driver once per file, so a merge with
 * true conflicts in two shards writes twice: the rows of a note already there are kept, and a
 * task and field listed again take the newer row.
 */
function writeConflictNote(boardDir: string, board: string, conflicts: MergeConflict[]): string {
  const file = join(boardDir, CONFLICT_NOTE);
  const rows = new Map<string, string>();
  for (const row of readText(file).split('\n')) if (row.startsWith('| `')) rows.set(rowKey(row), row);
  for (const c of conflicts) rows.set(rowKey(noteRow(c)), noteRow(c));
  writeFileSync(file, conflictNote(board, [...rows.values()]));
  return file;
}

function conflictNote(board: string, rows: string[]): string {
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
    ...rows,
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

/**
 * The tasks whose both-sides conflicts take theirs: BATON_MERGE_THEIRS, which sync sets for the
 * task it claimed when it merges (the claim that lost the race gives way).
 */
export const mergePreference = (env: NodeJS.ProcessEnv): ReadonlySet<string> => new Set((env.BATON_MERGE_THEIRS ?? '').split(',').filter(Boolean));

/** A shard file of the board (tasks/XX.json), by its path. */
const isShardFile = (name: string) => basename(dirname(name)) === SHARD_DIR && isShardName(basename(name));

/** state.json's layout, from its text: 2 keeps the tasks in tasks/, 1 inside; null when absent or unreadable. */
function layoutOfText(text: string): 1 | 2 | null {
  if (!text.trim()) return null;
  try {
    return (JSON.parse(text) as { schema?: unknown }).schema === LAYOUT ? 2 : 1;
  } catch {
    return null;
  }
}

/** The sides of a merge of state.json, when they are in different layouts (a clone upgraded, the other not). */
const mixedLayouts = (...texts: string[]): boolean => new Set(texts.map(layoutOfText).filter((l) => l !== null)).size > 1;

/**
 * A board holding only tasks, for merging one shard with mergeStates. It has no tombstones (they
 * are in state.json): a task one side lacks is kept from the other, whether that side archived
 * it or never had it (a revert, a cherry-pick). One archived on a side comes back to the board
 * unchanged, and the next write takes it off again (store/archivefiles.ts settleArchive).
 */
function shardBoard(tasks: Record<string, Task>): State {
  return { schema: 1, board: { name: '', created_at: '1970-01-01T00:00:00.000Z' }, revision: 0, seq: 0, tasks, agents: {}, sessions: {}, handoffs: {} };
}

/**
 * The commit a git operation merges from, while its driver runs or once it stopped: the merge base
 * of HEAD and the commit merged in (GITHEAD_<sha>, which git sets for its drivers, or MERGE_HEAD), or
 * the parent of the commit a rebase, cherry-pick or revert applies. Null when none can be told.
 */
function operationBase(repo: string, env: NodeJS.ProcessEnv): string | null {
  const merged = Object.keys(env).find((k) => /^GITHEAD_[0-9a-f]{40,64}$/.test(k))?.slice('GITHEAD_'.length) ?? gitOrNull(repo, ['rev-parse', '-q', '--verify', 'MERGE_HEAD']);
  if (merged) return gitOrNull(repo, ['merge-base', 'HEAD', merged]);
  const picked = gitOrNull(repo, ['rev-parse', '-q', '--verify', 'CHERRY_PICK_HEAD']) ?? gitOrNull(repo, ['rev-parse', '-q', '--verify', 'REBASE_HEAD']);
  if (picked) return gitOrNull(repo, ['rev-parse', '-q', '--verify', `${picked}^`]);
  const reverted = gitOrNull(repo, ['rev-parse', '-q', '--verify', 'REVERT_HEAD']);
  if (reverted) return reverted;
  // A rebase between picks: the last line of its done list names the commit being applied.
  const done = gitOrNull(repo, ['rev-parse', '--git-path', 'rebase-merge/done']);
  const last = done ? readText(resolve(repo, done)).trim().split('\n').at(-1) : undefined;
  const sha = last?.split(/\s+/)[1];
  return sha && /^[0-9a-f]{7,64}$/.test(sha) ? gitOrNull(repo, ['rev-parse', '-q', '--verify', `${sha}^`]) : null;
}

/**
 * The base of a shard that the merge base does not have because the base is in layout 1 (both
 * sides upgraded since): that shard's tasks from the base's state.json. Without it, the merge
 * would take every field of a task both sides changed from one side.
 */
function shardBaseFromLayout1(name: string): Record<string, Task> | null {
  const repo = repoRoot(process.cwd());
  if (!repo) return null;
  const board = dirname(dirname(name)).split('\\').join('/');
  const base = operationBase(repo, process.env);
  const text = base ? gitOrNull(repo, ['show', `${base}:${board === '.' ? '' : `${board}/`}state.json`]) : null;
  if (!text) return null;
  try {
    const tasks = (JSON.parse(text) as { tasks?: Record<string, Task> }).tasks;
    if (!tasks) return null;
    const shard = /([0-9a-f]{2})\.json$/.exec(name)![1]!;
    return Object.fromEntries(Object.entries(tasks).filter(([id]) => shardOf(id) === shard));
  } catch {
    return null;
  }
}

/** Merges three versions of one shard, task by task. A side without the file holds none of its tasks. */
async function mergeShard(name: string, base: string, ours: string, theirs: string, prefer: ReadonlySet<string>): Promise<{ text: string; revision: number; conflicts: MergeConflict[] }> {
  const parse = async (text: string, side: string) => (text.trim() ? (await parseState(`{"schema":1,"board":{"name":"x","created_at":"1970-01-01T00:00:00.000Z"},"revision":0,"seq":0,"agents":{},"sessions":{},"handoffs":{},"tasks":${text}}`, `${name} (${side})`)).tasks : null);
  const b = (await parse(base, 'base')) ?? (ours.trim() && theirs.trim() ? shardBaseFromLayout1(name) : null);
  const o = (await parse(ours, 'ours')) ?? {};
  const t = (await parse(theirs, 'theirs')) ?? {};
  const { state, conflicts } = mergeStates(b ? shardBoard(b) : null, shardBoard(o), shardBoard(t), prefer);
  const tasks = Object.values(state.tasks);
  return { text: shardText(tasks), revision: Math.max(0, ...tasks.map((x) => x.rev)), conflicts };
}

/** Merges three versions of a board file (state.json, a shard, events.jsonl or an archive) as the driver does. */
async function mergeBoardFile(name: string, base: string, ours: string, theirs: string, prefer: ReadonlySet<string>): Promise<{ text: string; revision: number; conflicts: MergeConflict[] }> {
  if (isEventsFile(name) || (!name.endsWith('.json') && !ours.trimStart().startsWith('{\n'))) {
    const merged = mergeEvents(parseEvents(base, `${name} (base)`), parseEvents(ours, `${name} (ours)`), parseEvents(theirs, `${name} (theirs)`));
    return { text: merged.map((e) => `${JSON.stringify(e)}\n`).join(''), revision: merged.at(-1)?.revision ?? 0, conflicts: [] };
  }
  if (isShardFile(name)) return mergeShard(name, base, ours, theirs, prefer);
  // Two sides upgraded from a base in layout 1 are both in layout 2: only the sides must agree.
  if (mixedLayouts(ours, theirs)) throw mixedLayoutError(name);
  const b: State | null = base.trim() ? await parseState(base, `${name} (base)`) : null;
  // A side that deleted the file (modify/delete) leaves the other side's board whole.
  const o = ours.trim() ? await parseState(ours, `${name} (ours)`) : null;
  const t = theirs.trim() ? await parseState(theirs, `${name} (theirs)`) : null;
  const { state, conflicts } = o && t ? mergeStates(b, o, t, prefer) : { state: (o ?? t)!, conflicts: [] };
  // In layout 2 the tasks are in the shards (merged one by one); state.json holds the rest.
  const text = layoutOfText(ours || theirs) === 2 ? boardText(state) : serializeState(state);
  return { text, revision: state.revision, conflicts };
}

function mixedLayoutError(name: string): BatonError {
  return new BatonError('MERGE_FAILED', `${name}: one side of this merge keeps its tasks in state.json (a board no baton upgraded yet), the other in tasks/; the git merge driver can't join them file by file.`, {
    hint: 'let git stop, then run `baton doctor --repair` (it merges both sides task by task and writes the board in the new layout)',
    details: { file: name },
  });
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
export async function runMergeDriver(base: string, ours: string, theirs: string, path: string | undefined, prefer: ReadonlySet<string>): Promise<MergeDriverResult> {
  const name = path ?? ours;
  const r = await mergeBoardFile(name, readText(base), readText(ours), readText(theirs), prefer);
  writeFileSync(ours, r.text);
  if (r.conflicts.length) {
    // The note goes in the board directory, also for a shard (project-plan/tasks/XX.json).
    const board = isShardFile(name) ? dirname(dirname(name)) : dirname(name);
    const note = writeConflictNote(isShardFile(name) ? dirname(dirname(resolve(name))) : dirname(resolve(name)), board, r.conflicts);
    throw new BatonError('MERGE_FAILED', `Both sides changed ${r.conflicts.map((c) => `${c.task} (${c.field}: ${JSON.stringify(c.ours)} vs ${JSON.stringify(c.theirs)})`).join(', ')}; the board is merged, see ${note}.`, {
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

/** Board files git left unmerged (a merge, rebase, cherry-pick, revert or stash pop in progress). */
function unmergedBoardFiles(dir: string): Map<string, Record<number, string>> {
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
export async function resolveFromIndex(dir: string, prefer: ReadonlySet<string>): Promise<IndexResolution> {
  const result: IndexResolution = { resolved: [], left: [], conflicts: [] };
  const where = repoOf(dir);
  if (!where) return result;
  const blob = (sha: string | undefined) => (sha ? git(where.repo, ['cat-file', 'blob', sha], undefined, 1 << 30) : '');
  const marked = (text: string) => /^(<{7}|>{7})( |$)/m.test(text);
  for (const [path, stages] of unmergedBoardFiles(dir)) {
    const inBoard = where.rel === '.' ? path : path.slice(where.rel.length + 1);
    const file = join(where.repo, path);
    const working = readText(file);
    if (inBoard === 'state.json' && mixedLayouts(blob(stages[2]), blob(stages[3]))) {
      // Two layouts: the side in layout 2 brought its shards, which git put in the working tree.
      // Ours is the working tree's state.json when it is whole: it also holds every board write
      // made since git stopped (a write goes through on the side already in layout 2).
      const ours = !marked(working) && layoutOfText(working) === layoutOfText(blob(stages[2])) ? working : blob(stages[2]);
      const r = await resolveMixed(dir, blob(stages[1]), ours, blob(stages[3]), prefer);
      for (const c of r.conflicts) result.conflicts.push(c);
      result.resolved.push(path, ...r.shards.map((sh) => `${where.rel === '.' ? '' : `${where.rel}/`}${sh}`));
      continue;
    }
    if (inBoard === 'state.json' || isEventsFile(inBoard) || isShardFile(inBoard)) {
      // Merged by the driver already (a true conflict it would not guess): that file also holds
      // every board write made since, so it is the resolution. Only git's text merge is redone.
      let merged = !marked(working);
      if (merged && (inBoard === 'state.json' || isShardFile(inBoard))) merged = await mergeBoardFile(path, '', working, working, prefer).then(() => true, () => false);
      if (!merged) {
        const r = await mergeBoardFile(path, blob(stages[1]), blob(stages[2]), blob(stages[3]), prefer);
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
  if (result.conflicts.length) writeConflictNote(dir, where.rel, result.conflicts);
  if (result.resolved.length) git(where.repo, ['add', '-A', '--', ...result.resolved]);
  return result;
}

/** The two sides of a file holding git conflict markers (the base section of diff3 style dropped). */
function splitConflictMarkers(text: string): { ours: string; theirs: string } | null {
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
 * A merge of a board in layout 1 with one in layout 2, after git stopped on it: the side in
 * layout 2 has its tasks in the shard files git put in the working tree (the other side has
 * none). Both sides are merged task by task and written in layout 2; returns the shard files
 * written or removed, relative to the board directory.
 */
async function resolveMixed(dir: string, base: string, ours: string, theirs: string, prefer: ReadonlySet<string>): Promise<{ conflicts: MergeConflict[]; shards: string[] }> {
  // A shard left with conflict markers is merged first: its tasks are never skipped.
  await resolveMarkers(dir, prefer);
  const inShards = await readShardTasks(dir);
  const side = async (text: string, label: string): Promise<State | null> => {
    if (!text.trim()) return null;
    const state = await parseState(text, `state.json (${label})`);
    return layoutOfText(text) === 2 ? { ...state, tasks: inShards } : state;
  };
  const b = await side(base, 'base');
  const o = await side(ours, 'ours');
  const t = await side(theirs, 'theirs');
  const { state, conflicts } = o && t ? mergeStates(b, o, t, prefer) : { state: (o ?? t)!, conflicts: [] };
  const shards = writeWholeState(dir, state);
  if (conflicts.length) writeConflictNote(dir, repoOf(dir)?.rel ?? dir, conflicts);
  return { conflicts, shards };
}

/** The two sides of a board file's conflict markers, merged as the driver would. */
async function mergeMarked(dir: string, name: string, prefer: ReadonlySet<string>): Promise<MergeConflict[] | null> {
  const file = join(dir, name);
  const sides = splitConflictMarkers(readText(file));
  if (!sides) return null;
  const r = await mergeBoardFile(name, '', sides.ours, sides.theirs, prefer);
  writeFileAtomic(file, r.text, true);
  return r.conflicts;
}

/**
 * state.json or a shard left with conflict markers after git's own text merge (a clone without
 * the driver) and already out of git's index: both sides are taken from the markers and merged per task.
 */
export async function resolveMarkers(dir: string, prefer: ReadonlySet<string>): Promise<{ resolved: boolean; conflicts: MergeConflict[] }> {
  const conflicts: MergeConflict[] = [];
  let resolved = false;
  let names: string[] = [];
  try {
    names = readdirSync(join(dir, SHARD_DIR)).filter(isShardName).sort().map((n) => `${SHARD_DIR}/${n}`);
  } catch {
    /* no shards */
  }
  for (const name of ['state.json', ...names]) {
    const r = await mergeMarked(dir, name, prefer);
    if (!r) continue;
    resolved = true;
    conflicts.push(...r);
  }
  if (conflicts.length) writeConflictNote(dir, repoOf(dir)?.rel ?? dir, conflicts);
  return { resolved, conflicts };
}

/** After a repair rewrote resolved files (reconciled, regenerated), stage them again. */
export function restage(dir: string, paths: string[]): void {
  const where = repoOf(dir);
  if (where && paths.length) gitStatus(where.repo, ['add', '--', ...paths.filter((p) => existsSync(join(where.repo, p)))]);
}

/** The git operation stopped in this repository (a merge, rebase, cherry-pick, revert), or null. */
export function unfinishedGitOperation(repo: string, dir: string): string | null {
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
export function gitChecks(dir: string): { unmerged: string[]; driverMissing: boolean; ignoreMissing: string[]; attributesOld: boolean } {
  const where = repoOf(dir);
  if (!where) return { unmerged: [], driverMissing: false, ignoreMissing: [], attributesOld: false };
  const unmerged = [...unmergedBoardFiles(dir).keys()];
  const attrs = readText(join(where.repo, '.gitattributes'));
  const named = /\smerge=baton(\s|$)/m.test(attrs);
  const driverMissing = named && gitOrNull(where.repo, ['config', '--get', 'merge.baton.driver']) === null;
  const ignore = readText(join(dir, '.gitignore')).split('\n').map((l) => l.trim());
  const ignoreMissing = named ? LOCAL_FILES.filter((f) => !ignore.includes(f)) : [];
  // An install from before the task archive or the task shards: git would merge archive/tasks/ or tasks/ as text and stop.
  const attributesOld = named && (!attrs.includes(`${where.rel}/archive/tasks/ids.txt merge=union`) || !attrs.includes(`${where.rel}/tasks/*.json merge=baton`));
  return { unmerged, driverMissing, ignoreMissing, attributesOld };
}
