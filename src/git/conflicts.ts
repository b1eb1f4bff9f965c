import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BatonError } from '../rules/errors.js';
import { parseEventLog } from '../store/eventlog.js';
import { git, gitOrNull, gitStatus, repoOf } from '../store/gitrun.js';
import { type MergeConflict, mergeEvents, mergeStates } from '../rules/merge.js';
import { parseState, serializeState, writeFileAtomic } from '../store/store.js';
import type { BatonEvent, State } from '../rules/types.js';

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

/**
 * The tasks whose both-sides conflicts take theirs: BATON_MERGE_THEIRS, which sync sets for the
 * task it claimed when it merges (the claim that lost the race gives way).
 */
export const mergePreference = (env: NodeJS.ProcessEnv): ReadonlySet<string> => new Set((env.BATON_MERGE_THEIRS ?? '').split(',').filter(Boolean));

/** Merges three versions of a board file (state.json, events.jsonl or an archive) as the driver does. */
async function mergeBoardFile(name: string, base: string, ours: string, theirs: string, prefer: ReadonlySet<string>): Promise<{ text: string; revision: number; conflicts: MergeConflict[] }> {
  if (isEventsFile(name) || (!name.endsWith('.json') && !ours.trimStart().startsWith('{\n'))) {
    const merged = mergeEvents(parseEvents(base, `${name} (base)`), parseEvents(ours, `${name} (ours)`), parseEvents(theirs, `${name} (theirs)`));
    return { text: merged.map((e) => `${JSON.stringify(e)}\n`).join(''), revision: merged.at(-1)?.revision ?? 0, conflicts: [] };
  }
  const b: State | null = base.trim() ? await parseState(base, `${name} (base)`) : null;
  // A side that deleted the file (modify/delete) leaves the other side's board whole.
  const o = ours.trim() ? await parseState(ours, `${name} (ours)`) : null;
  const t = theirs.trim() ? await parseState(theirs, `${name} (theirs)`) : null;
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
export async function runMergeDriver(base: string, ours: string, theirs: string, path: string | undefined, prefer: ReadonlySet<string>): Promise<MergeDriverResult> {
  const name = path ?? ours;
  const r = await mergeBoardFile(name, readText(base), readText(ours), readText(theirs), prefer);
  writeFileSync(ours, r.text);
  if (r.conflicts.length) {
    const board = dirname(name);
    const note = join(dirname(resolve(name)), CONFLICT_NOTE);
    writeFileSync(note, conflictNote(board, r.conflicts));
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
    if (inBoard === 'state.json' || isEventsFile(inBoard)) {
      // Merged by the driver already (a true conflict it would not guess): that file also holds
      // every board write made since, so it is the resolution. Only git's text merge is redone.
      let merged = !marked(working);
      if (merged && inBoard === 'state.json') merged = await parseState(working, path).then(() => true, () => false);
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
  if (result.conflicts.length) writeFileSync(join(dir, CONFLICT_NOTE), conflictNote(where.rel, result.conflicts));
  if (result.resolved.length) git(where.repo, ['add', '--', ...result.resolved]);
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
 * state.json left with conflict markers after git's own text merge (a clone without the driver)
 * and already out of git's index: both sides are taken from the markers and merged per task.
 */
export async function resolveMarkers(dir: string, prefer: ReadonlySet<string>): Promise<{ resolved: boolean; conflicts: MergeConflict[] }> {
  const file = join(dir, 'state.json');
  const sides = splitConflictMarkers(readText(file));
  if (!sides) return { resolved: false, conflicts: [] };
  const r = await mergeBoardFile('state.json', '', sides.ours, sides.theirs, prefer);
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
  // An install from before the task archive: git would merge archive/tasks/ as text and stop.
  const attributesOld = named && !attrs.includes(`${where.rel}/archive/tasks/ids.txt merge=union`);
  return { unmerged, driverMissing, ignoreMissing, attributesOld };
}
