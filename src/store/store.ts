import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from '../rules/digest.js';
import { BatonError, ioError, isIoError, warnAboutBoard } from '../rules/errors.js';
import { pidAlive } from './lock.js';
import { conflictMarkerLine, jsonErrorLine, lineOf } from '../rules/json.js';
import { ALL_SHARDS, boardText, isShardName, LAYOUT, SHARD_DIR, shardOf, shardPath, shardText, tasksByShard } from '../rules/layout.js';
import { stateLooksValid, taskLooksValid, toStoredState } from '../rules/shape.js';
import type { BatonEvent, Config, State, Task } from '../rules/types.js';
import type { LazyTasks } from '../rules/finder.js';

/** zod schemas, loaded only when a fast check fails or YAML must be validated. */
const loadSchemas = () => import('../rules/schema.js');

/**
 * state.json and config.yaml, read and validated, and the writes a transaction is made of (whole
 * files, appended events); the event log is read in eventlog.ts. Every mutation is one `transact()` (tx.ts):
 * lock → read → check revision → undo this machine's interrupted transaction (journal.ts) or
 * reconcile a log that git changed (reconcile.ts) → apply → journal → append events (fsync) →
 * write state.json (temp, fsync, rename: the commit point) → drop the journal → projections →
 * unlock. Events are appended before the state that refers to them, so a crash between the
 * two leaves events past `state.seq`, which readers ignore and the next writer undoes.
 */

/** The transaction journal (journal.ts); readers look into it for the shards of an unfinished write. */
export const JOURNAL = '.baton.lock.journal';

export const FILES = {
  state: 'state.json',
  events: 'events.jsonl',
  config: 'config.yaml',
} as const;

const TMP_MARK = '.tmp-';

export function corrupt(file: string, line: number | null, what: string, hint?: string): BatonError {
  const where = line ? `${file}:${line}` : file;
  return new BatonError('BOARD_CORRUPT', `${where}: ${what}`, {
    hint: hint ?? 'baton doctor --repair',
    details: { file, line },
  });
}

function zodIssues(err: { issues: { path: PropertyKey[]; message: string }[] }): string[] {
  return err.issues.slice(0, 3).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
}

/** JSON.parse of a board file, or BOARD_CORRUPT naming its line (conflict markers named as such). */
function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    // Conflict markers always break the JSON, so they are looked for only then.
    const marker = conflictMarkerLine(text);
    if (marker) {
      throw corrupt(
        file,
        marker,
        'git merge-conflict markers in the board state.',
        '`baton doctor --repair` merges both sides task by task (keeping just one side would drop the other\'s tasks)',
      );
    }
    throw corrupt(file, jsonErrorLine(text, e), `not valid JSON (${(e as Error).message.split('\n')[0]}).`, `fix the JSON at that line by hand or restore it from git (\`git checkout -- ${file}\`), then \`baton doctor --repair\``);
  }
}

/** The line of the field a schema issue names: its path followed through the text key by key. */
function lineOfPath(text: string, path: readonly PropertyKey[]): number | null {
  let line: number | null = null;
  let pos = 0;
  for (const key of path) {
    if (typeof key !== 'string') continue;
    const at = text.indexOf(`"${key}":`, pos);
    if (at < 0) break;
    pos = at;
    line = lineOf(text, at).line;
  }
  return line;
}

async function validateState(raw: unknown, text: string, file: string): Promise<State> {
  if (stateLooksValid(raw)) return raw;
  const { StateSchema } = await loadSchemas();
  const parsed = StateSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw corrupt(file, lineOfPath(text, parsed.error.issues[0]!.path), `does not match the board schema: ${zodIssues(parsed.error).join('; ')}.`, 'fix the field by hand or restore it from git, then `baton doctor --repair`');
}

/** A state.json whose `schema` is a layout this baton does not know: written by a newer baton. */
function tooNew(file: string, schema: number): BatonError {
  return new BatonError('BOARD_TOO_NEW', `${file} is in board layout ${schema}, newer than this baton reads (${LAYOUT}); nothing was read or written.`, {
    hint: 'upgrade baton on this machine to the version that wrote the board (npm install baton@latest), then run the command again',
    details: { file, layout: schema, supported: LAYOUT },
  });
}

/** state.json's layout: 1 (tasks inside it) or 2 (tasks in tasks/); one newer than this baton's is refused. */
function layoutOf(raw: Record<string, unknown> | null, file: string): 1 | 2 {
  const schema = raw?.schema;
  if (typeof schema === 'number' && schema > LAYOUT) throw tooNew(file, schema);
  return schema === LAYOUT ? 2 : 1;
}

/** A layout-2 state.json's board, without tasks (the shards hold them; a `tasks` key in it is ignored). */
const headOf = (raw: Record<string, unknown> | null, text: string, file: string): Promise<State> => validateState({ ...raw, schema: 1, tasks: {} }, text, file);

/**
 * A whole state from one text: state.json in layout 1 (tasks inside), or a merged or generated
 * state (the merge driver, the read index). A layout-2 state.json parses to a state without
 * tasks (they are in tasks/, read by readStateText).
 */
export async function parseState(text: string, file = 'state.json'): Promise<State> {
  const raw = parseJsonText(text, file);
  const schema = (raw as { schema?: unknown } | null)?.schema;
  if (typeof schema === 'number' && schema > LAYOUT) throw tooNew(file, schema);
  if (schema === LAYOUT && raw && typeof raw === 'object' && !('tasks' in raw)) return validateState({ ...raw, schema: 1, tasks: {} }, text, file);
  return validateState(raw, text, file);
}

/** A shard's parsed tasks and the first id whose task is not a valid task under that id (null: none). */
function shardTasks(text: string, file: string): { tasks: Record<string, unknown>; bad: string | null } {
  const raw = parseJsonText(text, file);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw corrupt(file, 1, 'not a JSON object of tasks keyed by id.', `restore it from git (\`git checkout -- ${file}\`), then \`baton doctor --repair\``);
  const tasks = raw as Record<string, unknown>;
  for (const id in tasks) {
    const t = tasks[id];
    if (!taskLooksValid(t) || (t as Task).id !== id) return { tasks, bad: id };
  }
  return { tasks, bad: null };
}

/** A shard's tasks, checked: each a valid task under its own id. */
async function parseShard(text: string, file: string): Promise<Record<string, Task>> {
  const { tasks, bad } = shardTasks(text, file);
  if (bad !== null) {
    const id = bad;
    const t = tasks[id];
    const { TaskSchema } = await loadSchemas();
    const parsed = TaskSchema.safeParse(t);
    const line = lineOfPath(text, [id, ...(parsed.success ? ['id'] : parsed.error.issues[0]!.path)]);
    const what = parsed.success ? `task ${id} holds the id ${JSON.stringify((t as Task).id)}` : `task ${id} does not match the board schema: ${zodIssues(parsed.error).join('; ')}`;
    throw corrupt(file, line, `${what}.`, 'fix the field by hand or restore it from git, then `baton doctor --repair`');
  }
  return tasks as Record<string, Task>;
}

/** The board without its tasks: what state.json alone holds (the board, agents, sessions, handoffs, questions, revision, seq). */
export type BoardHead = Omit<State, 'tasks'>;

/**
 * state.json alone, for what needs no task (an ack, a hook's delivery): the shards are not read.
 * Every commit renames a whole state.json into place, so it is one commit's, whatever is in flight.
 */
export async function readStateHead(dir: string): Promise<BoardHead> {
  const file = join(dir, FILES.state);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw corrupt(file, null, 'missing.', 'restore it from git, or `baton init` a new board elsewhere');
    throw e;
  }
  // Exactly as readStateText takes it, so what a whole read accepts this accepts.
  const raw = parseJsonText(text, file) as Record<string, unknown> | null;
  const { tasks: _tasks, ...head } = layoutOf(raw, file) === 2 ? await headOf(raw, text, file) : await validateState(raw, text, file);
  return head;
}

export async function readState(dir: string): Promise<State> {
  if (!parsed) return (await readStateText(dir)).state;
  // A long-lived process: the state parsed last time, while state.json is the same file.
  const stamp = stampOf(join(dir, FILES.state));
  const shards = shardSignature(dir);
  const hit = parsed.get(dir);
  if (hit && sameStamp(hit.stamp, stamp) && hit.shards === shards) return hit.state;
  // The stamps are taken before the read: a commit landing in between only costs a parse next time.
  const { state } = await readStateText(dir);
  parsed.set(dir, { stamp, shards, state: deepFreeze(state) });
  return state;
}

/** The last state each board's readState parsed, when cacheStateReads() turned it on. */
let parsed: Map<string, { stamp: FileStamp | null; shards: string; state: State }> | null = null;

/**
 * For a long-lived process (the MCP server): readState parses state.json again only when it
 * changed (size, mtime or inode: every commit renames a new file into place), so a read of an
 * unchanged board costs a stat. The state it returns is frozen, so no reader can change what
 * the next one gets; transactions read their own copy (readStateText).
 */
export function cacheStateReads(): void {
  parsed ??= new Map();
}

/** Whether this process keeps parsed states (a long-lived reader: the read index would cost it more). */
export const stateReadsCached = (): boolean => parsed !== null;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** A full stamp of a file read through its descriptor (the read index names state.json by it). */
interface ReadStamp {
  size: number;
  mtime: number;
  ctime: number;
  ino: number;
}

/** The board as read from its files. */
export interface BoardFiles {
  state: State;
  /** state.json's text. */
  text: string;
  /** state.json's stamp, taken from the descriptor it was read through. */
  stamp: ReadStamp;
  /** state.json's layout: 1, tasks inside it (a board the first write upgrades); 2, tasks in tasks/. */
  layout: 1 | 2;
  /**
   * The shard files' texts by shard, as the tasks were read from them (an unfinished
   * transaction's shards replaced by the journal's copies of what they were). In layout 1, the
   * shard files a crashed upgrade left, which the board ignores.
   */
  shards: Map<string, string>;
  /** The ids each shard holds. */
  members: Map<string, Set<string>>;
  /** A task in a shard its id does not hash to, or in two shards: the next write rewrites every shard. */
  misplaced: boolean;
  /** The shards' stamps (shardSignature), taken before they were read; only when asked for (`stamped`). */
  signature: string;
  /** In layout 2, each shard's tasks as parsed (an unfinished transaction's shards as they were). */
  parsed: Map<string, Record<string, Task>>;
  /**
   * In layout 2, the stamp of each shard file read (size, mtime, ctime, inode, from the very
   * descriptor), '' for a shard taken from the journal: a writer that read the board while it
   * waited for the lock reads again only the files that changed since (refreshBoardFiles).
   */
  stamps: Map<string, string>;
}

/** The journal's part a reader needs: which shards an unfinished transaction rewrote, and what they held. */
interface ShardUndo {
  revision_before: number;
  read_seq?: number;
  base?: FileStamp | null;
  shards?: Record<string, string | null>;
}

/**
 * The shard files' names, sizes, mtimes and inodes in one string: the read index is used only
 * while it equals the one it was made with, so a hand edit of a shard alone is seen at once.
 */
export function shardSignature(dir: string): string {
  let names: string[];
  try {
    names = shardNames(dir);
  } catch {
    return '';
  }
  const parts: string[] = [];
  for (const n of names) {
    try {
      parts.push(signaturePart(n.slice(0, 2), statText(statSync(join(dir, SHARD_DIR, n)))));
    } catch {
      parts.push(`${n.slice(0, 2)}:gone`);
    }
  }
  return parts.join(',');
}

export const statText = (st: { size: number; mtimeMs: number; ctimeMs: number; ino: number }) => `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;

/** A shard's part of shardSignature from its stamp (statText): shard, size, mtime and inode. */
export function signaturePart(shard: string, stamp: string): string {
  const [size, mtime, , ino] = stamp.split(':');
  return `${shard}:${size}:${mtime}:${ino}`;
}

/** How far before the last commit a shard must have changed for its stamp to be trusted (readStateText). */
const RACY_MS = 2000;

/** A board file or folder that is there but can't be read: the storage failing, or something a person put in its place. */
function unreadable(path: string, e: unknown): BatonError {
  if (isIoError(e)) return ioError(e);
  return corrupt(path, null, `can't be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, `restore it from git (\`git checkout -- ${path}\`), then \`baton doctor --repair\``);
}

/** A shard file's text and the stamp of the very file read; null when it is not there. */
export function readShardFile(path: string): { text: string; stamp: string; mtime: number } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw unreadable(path, e);
  }
  try {
    const st = fstatSync(fd);
    return { text: readFileSync(fd, 'utf8'), stamp: statText(st), mtime: st.mtimeMs };
  } catch (e) {
    throw unreadable(path, e);
  } finally {
    closeSync(fd);
  }
}

/** The shard files there are (tasks/XX.json), by shard, in order. */
function shardNames(dir: string): string[] {
  try {
    return readdirSync(join(dir, SHARD_DIR)).filter(isShardName).sort();
  } catch (e) {
    // No tasks/ is a board without shards; any other failure must never read as a board without tasks.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw unreadable(join(dir, SHARD_DIR), e);
  }
}

/** Every shard file's text and stamp. */
function readShardFiles(dir: string): Map<string, { text: string; stamp: string; mtime: number }> {
  const out = new Map<string, { text: string; stamp: string; mtime: number }>();
  for (const n of shardNames(dir)) {
    const f = readShardFile(join(dir, SHARD_DIR, n));
    if (f) out.set(n.slice(0, 2), f);
  }
  return out;
}

/**
 * The board's tasks from its parsed shards, in id order as layout 1 held them (what is rendered
 * from them follows it), with the ids each shard holds and whether a task is misplaced (in a
 * shard its id does not hash to, or in two: the newer rev is kept).
 */
function assembleTasks(parsed: Map<string, Record<string, Task>>): { tasks: Record<string, Task>; members: Map<string, Set<string>>; misplaced: boolean } {
  const members = new Map<string, Set<string>>();
  const entries: [string, Task][] = [];
  let misplaced = false;
  for (const s of [...parsed.keys()].sort()) {
    const tasks = parsed.get(s)!;
    const ids = new Set<string>();
    for (const id in tasks) {
      ids.add(id);
      if (shardOf(id) !== s) misplaced = true;
      entries.push([id, tasks[id]!]);
    }
    members.set(s, ids);
  }
  // One array sorted (stable: a task in two shards keeps their order), then one object built in
  // that order: at 100,000 tasks, a map of the ids and a sorted copy of it cost twice as much.
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Record<string, Task> = {};
  let last: [string, Task] | null = null;
  for (const e of entries) {
    if (last && last[0] === e[0]) {
      // The same task in two shards: the newer copy, the first shard's on a tie.
      misplaced = true;
      if (e[1].rev > last[1].rev) out[e[0]] = (last = e)[1];
      continue;
    }
    out[e[0]] = (last = e)[1];
  }
  return { tasks: out, members, misplaced };
}

/** Every shard file's text. */
const readShardTexts = (dir: string): Map<string, string> => new Map([...readShardFiles(dir)].map(([s, f]) => [s, f.text]));

/**
 * Did the journal's transaction leave this state.json as it found it (so its shard writes are
 * not committed)? The same test journal.ts's rollback makes: the very file it read, or a state
 * still at the revision and seq it read.
 */
export function journalUncommitted(j: ShardUndo, state: { revision: number; seq: number }, now: FileStamp | null): boolean {
  return sameStamp(j.base, now) || (state.revision === j.revision_before && (j.read_seq === undefined || state.seq === j.read_seq));
}

function readUndo(dir: string): ShardUndo | null {
  try {
    const j = JSON.parse(readFileSync(join(dir, JOURNAL), 'utf8')) as ShardUndo;
    return j && typeof j === 'object' && j.shards && typeof j.shards === 'object' ? j : null;
  } catch {
    return null;
  }
}

/**
 * The board read whole: state.json, and in layout 2 every shard. A read takes no lock, so it
 * must never see a write half done: a writer journals the shards it will rewrite (with their old
 * texts) before it touches any, and renames state.json into place last. A reader reads
 * state.json, the shards, then the journal, and state.json's stamp again: a stamp that moved is
 * a commit in between (read again); a journal of a transaction that has not committed gives the
 * shards it rewrote as they were. `stamped`: also take the shards' stamps (shardSignature), for a
 * reader that writes an index or a cache from what it read.
 */
/** A file's text and the stamp of the very file read (fstat of its descriptor); throws as the fs calls do. */
function readStamped(file: string): { text: string; stamp: ReadStamp } {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    return { text: readFileSync(fd, 'utf8'), stamp: { size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, ino: st.ino } };
  } finally {
    closeSync(fd);
  }
}

export async function readStateText(dir: string, stamped = false): Promise<BoardFiles> {
  const file = join(dir, FILES.state);
  for (let attempt = 0; ; attempt++) {
    let read: { text: string; stamp: ReadStamp };
    try {
      read = readStamped(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw corrupt(file, null, 'missing.', 'restore it from git, or `baton init` a new board elsewhere');
      }
      throw e;
    }
    const { text, stamp } = read;
    const raw = parseJsonText(text, file) as Record<string, unknown> | null;
    const layout = layoutOf(raw, file);
    const signature = stamped ? shardSignature(dir) : '';
    if (layout === 1) {
      const state = await validateState(raw, text, file);
      return { state, text, stamp, layout: 1, shards: readShardTexts(dir), members: new Map(), misplaced: false, signature, parsed: new Map(), stamps: new Map() };
    }
    const files = readShardFiles(dir);
    const undo = readUndo(dir);
    const again = stampOf(file);
    if (!again || again.size !== stamp.size || again.mtime !== stamp.mtime || again.ino !== stamp.ino) {
      if (attempt < 100) continue;
      // Never a board half of one commit and half of another: after so many commits in between, give up.
      throw new BatonError('BOARD_BUSY', `${file} changed under every one of 100 reads of the board; nothing was read.`, { hint: 'retry in a moment', details: { file } });
    }
    const head = await headOf(raw, text, file);
    if (undo && journalUncommitted(undo, head, { size: stamp.size, mtime: stamp.mtime, ino: stamp.ino })) {
      for (const [s, old] of Object.entries(undo.shards!)) {
        if (old === null) files.delete(s);
        else files.set(s, { text: old, stamp: '', mtime: 0 });
      }
    }
    const shards = new Map<string, string>();
    const stamps = new Map<string, string>();
    const parsed = new Map<string, Record<string, Task>>();
    for (const [s, f] of files) {
      shards.set(s, f.text);
      // A shard changed within two seconds of the last commit (or after it) may change again within
      // the same tick of a coarse file system clock, size and recycled inode alike: its stamp is not
      // trusted, and a refresh reads it again (as git treats "racy" files). Both times are the storage's.
      stamps.set(s, f.stamp && f.mtime < stamp.mtime - RACY_MS ? f.stamp : '');
      parsed.set(s, await parseShard(f.text, join(dir, shardPath(s))));
    }
    const { tasks, members, misplaced } = assembleTasks(parsed);
    head.tasks = tasks;
    return { state: head, text, stamp, layout: 2, shards, members, misplaced, signature, parsed, stamps };
  }
}

/**
 * The board as `pre` read it without the lock, brought up to date by a writer that now holds
 * it: state.json and the shards whose stamps moved since are read again, the rest is kept. No
 * journal may be there (the caller checked: it is undone first, and the board read whole). Null
 * when `pre` can't be brought up to date this way (layout 1, or state.json changed layout): the
 * caller reads the board whole.
 */
export async function refreshBoardFiles(dir: string, pre: BoardFiles): Promise<BoardFiles | null> {
  if (pre.layout !== 2) return null;
  const file = join(dir, FILES.state);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  let { text, stamp, state } = pre;
  let stateMoved = false;
  try {
    const st = fstatSync(fd);
    const now = { size: st.size, mtime: st.mtimeMs, ctime: st.ctimeMs, ino: st.ino };
    if (now.size !== stamp.size || now.mtime !== stamp.mtime || now.ctime !== stamp.ctime || now.ino !== stamp.ino) {
      stateMoved = true;
      stamp = now;
      text = readFileSync(fd, 'utf8');
    }
  } finally {
    closeSync(fd);
  }
  if (stateMoved) {
    const raw = parseJsonText(text, file) as Record<string, unknown> | null;
    if (layoutOf(raw, file) !== 2) return null;
    state = await headOf(raw, text, file);
  }
  const shards = new Map(pre.shards);
  const stamps = new Map(pre.stamps);
  const parsed = new Map(pre.parsed);
  const moved = new Set<string>();
  const there = new Map<string, string>();
  for (const n of shardNames(dir)) {
    // open and fstat, not stat: on a network file system an open revalidates what a stat may cache.
    let fd: number;
    try {
      fd = openSync(join(dir, SHARD_DIR, n), 'r');
    } catch (e) {
      // Gone meanwhile: read as gone below. Any other failure: the caller reads the board whole (and says why).
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      return null;
    }
    try {
      there.set(n.slice(0, 2), statText(fstatSync(fd)));
    } finally {
      closeSync(fd);
    }
  }
  for (const s of new Set([...there.keys(), ...pre.stamps.keys()])) {
    const was = pre.stamps.get(s);
    if (was && there.get(s) === was) continue;
    moved.add(s);
    const f = there.has(s) ? readShardFile(join(dir, shardPath(s))) : null;
    if (!f) {
      shards.delete(s);
      stamps.delete(s);
      parsed.delete(s);
      continue;
    }
    shards.set(s, f.text);
    stamps.set(s, f.stamp);
    parsed.set(s, await parseShard(f.text, join(dir, shardPath(s))));
  }
  if (!stateMoved && !moved.size) return pre;
  const { tasks, members, misplaced } = moved.size ? (updatedInPlace(pre, parsed, moved) ?? assembleTasks(parsed)) : { tasks: pre.state.tasks, members: pre.members, misplaced: pre.misplaced };
  state.tasks = tasks;
  return { state, text, stamp, layout: 2, shards, members, misplaced, signature: '', parsed, stamps };
}

/**
 * A shard read inside a rule (the lazy board below): checked as parseShard checks it, but at once.
 * Such a shard has the stamp the board index recorded from a valid one, so a failure here is a
 * file changed in between; doctor explains it field by field.
 */
export function parseShardNow(text: string, file: string): Record<string, Task> {
  const { tasks, bad } = shardTasks(text, file);
  if (bad !== null) throw corrupt(file, lineOfPath(text, [bad]), `task ${bad} does not match the board schema.`, '`baton doctor` names the field; fix it by hand or restore it from git, then `baton doctor --repair`');
  return tasks as Record<string, Task>;
}

/**
 * state.json read whole but for its tasks, with the stamp of the very file read, then each shard's
 * stamp ('' for one not there): what a lazy read starts from. Null in layout 1, or when state.json
 * or a shard can't be read or stat'ed (the caller reads the board whole, which says why).
 */
export async function readHeadAndStamps(dir: string): Promise<{ head: State; text: string; stamp: ReadStamp; stamps: Map<string, string> } | null> {
  const file = join(dir, FILES.state);
  let stateFile: { text: string; stamp: ReadStamp };
  try {
    stateFile = readStamped(file);
  } catch {
    return null;
  }
  const { text, stamp } = stateFile;
  const raw = parseJsonText(text, file) as Record<string, unknown> | null;
  if (layoutOf(raw, file) !== 2) return null;
  const head = await headOf(raw, text, file);
  const stamps = new Map<string, string>();
  for (const s of ALL_SHARDS) {
    try {
      stamps.set(s, statText(statSync(join(dir, shardPath(s)))));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null;
      stamps.set(s, '');
    }
  }
  return { head, text, stamp, stamps };
}

/** Is a transaction's journal there (a write under way, or one a crash left)? */
export const journalThere = (dir: string): boolean => existsSync(join(dir, JOURNAL));

/** The board read lazily: its files (filled as shards are read) and the tasks' reader for the finder. */
export interface LazyBoard {
  files: BoardFiles;
  lazy: LazyTasks;
  /** The shards read before any rule ran: their stamps differed from those given. */
  fresh: Set<string>;
}

/**
 * The board for a writer holding the lock, with state.json read whole and each shard read only
 * when a rule touches one of its tasks (`state.tasks` is a proxy that reads a shard on first use;
 * anything that lists the tasks reads them all). `known`: the stamps of shards whose tasks the
 * caller knows (the board index): every other shard, and one whose stamp moved, is read at once.
 * Null when the board can't be read so (layout 1, a task in a shard its id does not hash to, a
 * file that can't be stat'ed): the caller reads it whole, which says why. No journal may be there.
 */
export async function readBoardLazily(dir: string, known: ReadonlyMap<string, string>): Promise<LazyBoard | null> {
  const start0 = await readHeadAndStamps(dir);
  if (!start0) return null;
  const { head, text, stamp, stamps } = start0;
  const files: BoardFiles = { state: head, text, stamp, layout: 2, shards: new Map(), members: new Map(), misplaced: false, signature: '', parsed: new Map(), stamps: new Map() };
  const target: Record<string, Task> = {};
  // The order a plain object gives, as the whole read's map has it: integer-like ids first by
  // value, then the ids read, by id (assembleTasks put them in so), then the ids added, in order.
  const start = new Set<string>();
  let sorted: string[] | null = [];
  const added = new Set<string>();
  let delta = 0;
  const take = (s: string, f: { text: string; stamp: string }, tasks: Record<string, Task>) => {
    files.shards.set(s, f.text);
    files.stamps.set(s, f.stamp);
    files.parsed.set(s, tasks);
    files.members.set(s, new Set(Object.keys(tasks)));
    for (const id in tasks) {
      if (shardOf(id) !== s) return false;
      target[id] = tasks[id]!;
      start.add(id);
    }
    sorted = null;
    return true;
  };
  const read = new Set<string>();
  const fresh = new Set<string>();
  for (const s of ALL_SHARDS) {
    if (known.get(s) === stamps.get(s)) continue;
    read.add(s);
    fresh.add(s);
    const path = join(dir, shardPath(s));
    const f = readShardFile(path);
    if (f && !take(s, f, await parseShard(f.text, path))) return null;
  }
  const load = (s: string) => {
    if (read.has(s)) return;
    read.add(s);
    const path = join(dir, shardPath(s));
    const f = readShardFile(path);
    // Under the lock nothing changes a shard: one that did (a person, git) is not read half-known.
    if (f ? f.stamp !== stamps.get(s) || !take(s, f, parseShardNow(f.text, path)) : stamps.get(s) !== '') {
      throw corrupt(path, null, 'changed while a writer held the board lock (or holds a task its id does not belong in); nothing was written.', 'run the command again; if it says this again, `baton doctor --repair`');
    }
  };
  const loadAll = () => {
    for (const s of ALL_SHARDS) load(s);
  };
  const has = (id: string) => Object.prototype.hasOwnProperty.call(target, id);
  const isIndex = (id: string) => /^(?:0|[1-9]\d*)$/.test(id) && Number(id) < 4294967295;
  const order = (): string[] => {
    sorted ??= [...start].sort();
    const ints: string[] = [];
    const out: string[] = [];
    for (const id of sorted) if (has(id)) (isIndex(id) ? ints : out).push(id);
    for (const id of added) if (has(id)) (isIndex(id) ? ints : out).push(id);
    return ints.length ? [...ints.sort((a, b) => Number(a) - Number(b)), ...out] : out;
  };
  const adding = (key: string) => {
    load(shardOf(key));
    if (has(key)) return;
    delta++;
    // A key put back after it was deleted goes last, as in a plain object.
    start.delete(key);
    sorted = null;
    added.delete(key);
    added.add(key);
  };
  const tasks = new Proxy(target, {
    get: (t, key) => {
      if (typeof key === 'string') load(shardOf(key));
      return Reflect.get(t, key);
    },
    has: (t, key) => {
      if (typeof key === 'string') load(shardOf(key));
      return Reflect.has(t, key);
    },
    // Set on the target itself (the proxy as receiver would call defineProperty below too).
    set: (t, key, value) => {
      if (typeof key === 'string') adding(key);
      return Reflect.set(t, key, value);
    },
    defineProperty: (t, key, desc) => {
      if (typeof key === 'string') adding(key);
      return Reflect.defineProperty(t, key, desc);
    },
    deleteProperty: (t, key) => {
      if (typeof key === 'string') {
        load(shardOf(key));
        if (has(key)) delta--;
      }
      return Reflect.deleteProperty(t, key);
    },
    ownKeys: () => {
      loadAll();
      return order();
    },
    getOwnPropertyDescriptor: (t, key) => {
      if (typeof key === 'string') load(shardOf(key));
      return Reflect.getOwnPropertyDescriptor(t, key);
    },
  });
  head.tasks = tasks;
  const lazy: LazyTasks = {
    loaded: () => order().map((id) => target[id]!),
    isLoaded: (id) => read.has(shardOf(id)),
    get: (id) => {
      load(shardOf(id));
      return has(id) ? target[id] : undefined;
    },
    countDelta: () => delta,
  };
  return { files, lazy, fresh };
}

/**
 * The tasks of `pre` with the shards in `moved` taken from `parsed`, changed in place: when those
 * shards hold no id they did not hold before (a task changed or removed, none added or moved in),
 * every key keeps its place, so the map stays in id order without sorting the whole board again.
 * Null otherwise (a task added, or a board with a misplaced task): the caller assembles it whole.
 */
function updatedInPlace(pre: BoardFiles, parsed: Map<string, Record<string, Task>>, moved: Set<string>): ReturnType<typeof assembleTasks> | null {
  if (pre.misplaced) return null;
  const members = new Map(pre.members);
  for (const s of moved) {
    const was = pre.members.get(s) ?? new Set<string>();
    const now = parsed.get(s) ?? {};
    for (const id in now) if (!was.has(id)) return null;
  }
  const tasks = pre.state.tasks;
  for (const s of moved) {
    const now = parsed.get(s) ?? {};
    const ids = new Set<string>();
    for (const id of pre.members.get(s) ?? []) {
      if (now[id]) {
        tasks[id] = now[id]!;
        ids.add(id);
      } else delete tasks[id];
    }
    if (parsed.has(s)) members.set(s, ids);
    else members.delete(s);
  }
  return { tasks, members, misplaced: false };
}

export const CONFIG_CACHE = '.config-cache.json';
/** Bumped whenever the config gains a key: an older cache (without its default) is parsed again. */
const CONFIG_CACHE_VERSION = 5;

export interface LoadedConfig {
  config: Config;
  /** False when config.yaml was parsed now (a writer then refreshes the cache). */
  cached: boolean;
  text: string | null;
}

/** Config texts whose unknown keys this process has already warned about (a command may load twice). */
const warnedConfigTexts = new Set<string>();

/**
 * config.yaml, validated. Parsing YAML and loading zod on every command costs more start-up
 * than the rest of a read, so writers keep `.config-cache.json` (git-ignored): the validated
 * config beside the exact text it came from. A read uses it only while config.yaml's text
 * is still that text; a hand edit is therefore seen at once. Unknown keys are warned about
 * (warnAboutBoard) when the text is parsed, never when it comes from the cache (which the next write
 * refreshes), so an edit is not nagged about on every command.
 */
export async function loadConfig(dir: string): Promise<LoadedConfig> {
  const file = join(dir, FILES.config);
  let text: string | null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    text = null;
  }
  try {
    const cache = JSON.parse(readFileSync(join(dir, CONFIG_CACHE), 'utf8')) as { v?: number; text: string | null; config: Config };
    if (cache.v === CONFIG_CACHE_VERSION && cache.text === text && cache.config) return { config: cache.config, cached: true, text };
  } catch {
    /* no cache or a broken one: parse */
  }
  const { ConfigSchema, describeUnknownKey, unknownConfigKeys } = await loadSchemas();
  if (text === null) return { config: ConfigSchema.parse({}), cached: false, text };
  const doc = (await import('../rules/yaml.js')).parseYaml(text);
  if (!doc.ok && doc.kind === 'syntax') throw corrupt(file, doc.line, `not valid YAML (${doc.message}).`, `fix ${FILES.config} by hand`);
  if (!doc.ok) throw new BatonError('INVALID_INPUT', `${file}: ${doc.message}.`, { hint: `fix ${FILES.config} by hand`, details: { file } });
  const raw = doc.value ?? {};
  if (!warnedConfigTexts.has(text)) {
    warnedConfigTexts.add(text);
    // The one moment that knows the text is new: the cache hides it from every later command.
    for (const u of unknownConfigKeys(raw)) warnAboutBoard(describeUnknownKey(u, FILES.config));
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new BatonError('INVALID_INPUT', `${file}: ${zodIssues(parsed.error).join('; ')}.`, {
      hint: `fix ${FILES.config} by hand (see the comments in it)`,
      details: { file, key: first.path.map(String).join('.') || null },
    });
  }
  return { config: parsed.data, cached: false, text };
}

export async function readConfig(dir: string): Promise<Config> {
  return (await loadConfig(dir)).config;
}

/** Records the validated config for later reads (writers only). */
export function writeConfigCache(dir: string, loaded: LoadedConfig): void {
  if (loaded.cached) return;
  writeFileAtomic(join(dir, CONFIG_CACHE), `${JSON.stringify({ v: CONFIG_CACHE_VERSION, text: loaded.text, config: loaded.config })}\n`, false);
}

/** A file's identity: a rename, an edit or git replacing it changes at least one of these. */
export interface FileStamp {
  size: number;
  mtime: number;
  ino: number;
}

export function stampOf(path: string): FileStamp | null {
  try {
    const st = statSync(path);
    return { size: st.size, mtime: st.mtimeMs, ino: st.ino };
  } catch {
    return null;
  }
}

export const sameStamp = (a: FileStamp | null | undefined, b: FileStamp | null | undefined): boolean =>
  !!a && !!b && a.size === b.size && a.mtime === b.mtime && a.ino === b.ino;

/**
 * `.baton.lock.void`: ids of events whose transaction is known never to have committed (its
 * journal was undone or dropped; journal.ts writes it). A writer whose lock was broken while it
 * was stopped between its last check and its append can still put its events at the end of the
 * log after the lock's new holder; its commit then fails, so those events are void: reads skip
 * them and the next write takes them out of the log. Ids are random: no committed event is hit.
 */
export const VOID = '.baton.lock.void';

/** The ids of events that never committed; empty when there are none. */
export function readVoid(dir: string): Set<string> {
  try {
    return new Set(readFileSync(join(dir, VOID), 'utf8').split('\n').filter(Boolean));
  } catch {
    return new Set();
  }
}

/** Strict check of a whole log, for doctor: every line an event, seq 1..n with no gap. */
export async function checkEvents(events: BatonEvent[]): Promise<string | null> {
  const { EventSchema } = await loadSchemas();
  for (let i = 0; i < events.length; i++) {
    const r = EventSchema.safeParse(events[i]);
    if (!r.success) return `event seq ${events[i]!.seq}: ${zodIssues(r.error).join('; ')}`;
    const expected = (events[0]?.seq ?? 1) + i;
    if (events[i]!.seq !== expected) return `seq ${events[i]!.seq} where ${expected} was expected`;
  }
  return null;
}

/**
 * Temp files left by writers that died mid-write (only safe to remove under the lock). A temp
 * file of a process still alive here, written in the last minute, is left alone: it may be a
 * writer finishing its projections.
 */
export function leftoverTempFiles(dir: string, now = Date.now()): string[] {
  const out: string[] = [];
  for (const sub of ['', 'handoffs', 'results', SHARD_DIR]) {
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      continue;
    }
    for (const n of names) {
      const at = n.indexOf(TMP_MARK);
      if (at < 0) continue;
      const path = join(dir, sub, n);
      const pid = Number.parseInt(n.slice(at + TMP_MARK.length), 10);
      if (pid !== process.pid && pidAlive(pid)) {
        try {
          if (now - statSync(path).mtimeMs < 60_000) continue;
        } catch {
          continue;
        }
      }
      out.push(path);
    }
  }
  return out;
}

/** Writes every byte of `data` at the file's current position, or throws (ENOSPC mid-way included). */
function writeAll(fd: number, data: string, progress?: { written: number }): void {
  const buf = Buffer.from(data, 'utf8');
  let off = 0;
  while (off < buf.length) {
    const n = writeSync(fd, buf, off, buf.length - off);
    if (n <= 0) throw Object.assign(new Error(`short write (${off} of ${buf.length} bytes)`), { code: 'EIO' });
    off += n;
    if (progress) progress.written = off;
  }
}

/**
 * Writes a file whole or not at all: a temp file (every byte checked, fsynced), then a rename.
 * `via` names the directory the temp file is made in (the lock's fence, so that a writer whose
 * lock was broken cannot rename into place). On failure the temp file is removed.
 */
export function writeFileAtomic(path: string, data: string, durable = true, via?: string, mode = 0o666): void {
  const slash = path.lastIndexOf('/');
  const name = `.${path.slice(slash + 1)}${TMP_MARK}${process.pid}-${randomBytes(3).toString('hex')}`;
  const tmp = via ? join(via, name) : `${path.slice(0, slash + 1)}${name}`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeAll(fd, data);
    if (durable) fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* closed already */
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw e;
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* a breaker took the fence, and the temp file with it */
    }
    throw e;
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* some file systems refuse to fsync a directory; the rename is still atomic */
  }
}

/**
 * Appends events whole or not at all: on any failure (a full disk mid-line) the log is cut back
 * to the size it had, so no torn or partial line is ever left behind. A symlinked log is refused
 * (O_NOFOLLOW): baton writes only the board's own files.
 */
export function appendEvents(dir: string, events: BatonEvent[]): void {
  if (events.length === 0) return;
  appendLines(join(dir, FILES.events), events.map((e) => `${JSON.stringify(e)}\n`).join(''));
}

/** Appends whole lines to a board file (created if missing), fsynced, whole or not at all (see appendEvents). */
export function appendLines(file: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new BatonError('BOARD_CORRUPT', `${file} is a symbolic link; baton appends only to the board's own files.`, {
        hint: `replace the link with the file it points to (cp --remove-destination "$(readlink -f ${file})" ${file})`,
        details: { file, line: null },
      });
    }
    throw e;
  }
  const size = fstatSync(fd).size;
  const progress = { written: 0 };
  try {
    writeAll(fd, text, progress);
    fsyncSync(fd);
  } catch (e) {
    try {
      // Only when the file grew by exactly our bytes: otherwise someone else wrote too, and the
      // journal lets the next holder of the lock undo exactly ours.
      if (fstatSync(fd).size === size + progress.written) {
        ftruncateSync(fd, size);
        fsyncSync(fd);
      }
    } catch {
      /* the journal lets the next writer undo it */
    }
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** A whole state in one text, in layout 1 (tasks inside): what the merge driver gives for a board in layout 1. */
export function serializeState(state: State): string {
  return `${JSON.stringify(toStoredState(state, new Set(Object.keys(state.tasks)), true), null, 2)}\n`;
}

const EMPTY_SHARD = shardText([]);

/** What a commit writes: the shards and state.json. */
export interface StateWrite {
  shards: Map<string, string>;
  board: string;
}

/** Every shard of the state, compared with what the files hold: the shards that differ, and those left empty. */
function fullWrite(state: State, read: Pick<BoardFiles, 'shards'>): Map<string, string> {
  const writes = new Map<string, string>();
  const groups = tasksByShard(state.tasks);
  // Every shard, empty ones too (layout.ts: no write ever adds or removes a file).
  for (const s of ALL_SHARDS) {
    const tasks = groups.get(s);
    const text = tasks ? shardText(tasks) : EMPTY_SHARD;
    if (read.shards.get(s) !== text) writes.set(s, text);
  }
  return writes;
}

/**
 * The files a commit of `state` writes. Only the shards of the tasks it touched (changed,
 * created, archived) are serialised again, unless `whole` (a reconciliation, a merge settled) or
 * the board is in layout 1 (this write upgrades it: every shard is written, state.json last) or
 * holds a misplaced task.
 */
export function planStateWrite(state: State, touched: ReadonlySet<string>, read: Pick<BoardFiles, 'layout' | 'shards' | 'members' | 'misplaced'>, whole: boolean): StateWrite {
  const board = boardText(state);
  if (whole || read.layout === 1 || read.misplaced) return { shards: fullWrite(state, read), board };
  const touchedByShard = new Map<string, string[]>();
  for (const id of touched) {
    const s = shardOf(id);
    const list = touchedByShard.get(s);
    if (list) list.push(id);
    else touchedByShard.set(s, [id]);
  }
  const shards = new Map<string, string>();
  for (const [s, ids] of touchedByShard) {
    const tasks: Task[] = [];
    for (const id of new Set([...(read.members.get(s) ?? []), ...ids])) {
      const t = state.tasks[id];
      if (t) tasks.push(t);
    }
    const text = shardText(tasks);
    if (text !== read.shards.get(s)) shards.set(s, text);
  }
  // The test suite runs with BATON_VERIFY_WRITES=1: every write of a few shards is checked against
  // a serialisation of every shard, so a change that forgot tx.touch() can't go unnoticed.
  if (process.env.BATON_VERIFY_WRITES === '1') {
    const full = fullWrite(state, read);
    for (const s of ALL_SHARDS) {
      // A shard file that is missing holds no task, as an empty one.
      const was = read.shards.get(s) ?? EMPTY_SHARD;
      if ((shards.get(s) ?? was) !== (full.get(s) ?? was)) {
        throw new BatonError('INTERNAL', `Shard ${shardPath(s)} written from the touched tasks differs from a full serialisation (a change without tx.touch).`);
      }
    }
  }
  return { shards, board };
}

/** Every task in the shard files as they stand (a merge in progress reads the side git put there); an unreadable shard is BOARD_CORRUPT, never skipped. */
export async function readShardTasks(dir: string): Promise<Record<string, Task>> {
  const out: Record<string, Task> = {};
  for (const [s, text] of readShardTexts(dir)) Object.assign(out, await parseShard(text, join(dir, shardPath(s))));
  return out;
}

/**
 * Writes a whole state in layout 2 outside a transaction (a merge resolved by doctor --repair,
 * under the board lock, before its repair transaction): returns the shard files written or removed.
 */
export function writeWholeState(dir: string, state: State): string[] {
  const plan = planStateWrite(state, new Set(), { layout: 1, shards: readShardTexts(dir), members: new Map(), misplaced: false }, true);
  writeState(dir, plan);
  return [...plan.shards.keys()].map(shardPath);
}

/**
 * Writes a planned commit: each shard whole (temp file, fsync, rename) or removed, then
 * state.json, renamed into place last: the commit point. The journal holding the shards' old
 * texts is written before this (tx.ts), so a crash anywhere here is undone or readable.
 */
export function writeState(dir: string, plan: StateWrite, via?: string): void {
  if (plan.shards.size) {
    mkdirSync(join(dir, SHARD_DIR), { recursive: true });
    for (const [s, text] of plan.shards) writeFileAtomic(join(dir, shardPath(s)), text, true, via);
    fsyncDir(join(dir, SHARD_DIR));
  }
  writeFileAtomic(join(dir, FILES.state), plan.board, true, via);
  fsyncDir(dir);
}

/**
 * Writes generated files that differ from what is on disk; returns the names written. `via`: the
 * render lock's fence, so a renderer whose lock was broken renames nothing into place.
 */
export function writeProjections(dir: string, files: Map<string, string>, via?: string): string[] {
  const written: string[] = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    let current: string | null = null;
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = null;
    }
    if (current === content) continue;
    if (name.includes('/')) mkdirSync(join(dir, name.slice(0, name.lastIndexOf('/'))), { recursive: true });
    writeFileAtomic(path, content, false, via);
    written.push(name);
  }
  return written;
}
