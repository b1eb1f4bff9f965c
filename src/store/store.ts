import {
  closeSync,
  constants,
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
import { BatonError, warnAboutBoard } from '../rules/errors.js';
import { pidAlive } from './lock.js';
import { conflictMarkerLine, jsonErrorLine, lineOf } from '../rules/json.js';
import { sortValue, stateLooksValid, toStoredState } from '../rules/shape.js';
import type { BatonEvent, Config, State } from '../rules/types.js';

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

export async function parseState(text: string, file = 'state.json'): Promise<State> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
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
  if (stateLooksValid(raw)) return raw;
  const { StateSchema } = await loadSchemas();
  const parsed = StateSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0]!;
  // Point at the line of the offending field: follow its path through the text key by key.
  let line: number | null = null;
  let pos = 0;
  for (const key of first.path) {
    if (typeof key !== 'string') continue;
    const at = text.indexOf(`"${key}":`, pos);
    if (at < 0) break;
    pos = at;
    line = lineOf(text, at).line;
  }
  throw corrupt(file, line, `does not match the board schema: ${zodIssues(parsed.error).join('; ')}.`, 'fix the field by hand or restore it from git, then `baton doctor --repair`');
}

export async function readState(dir: string): Promise<State> {
  if (!parsed) return (await readStateText(dir)).state;
  // A long-lived process: the state parsed last time, while state.json is the same file.
  const stamp = stampOf(join(dir, FILES.state));
  const hit = parsed.get(dir);
  if (hit && sameStamp(hit.stamp, stamp)) return hit.state;
  // The stamp is taken before the read: a commit landing in between only costs a parse next time.
  const { state } = await readStateText(dir);
  parsed.set(dir, { stamp, state: deepFreeze(state) });
  return state;
}

/** The last state each board's readState parsed, when cacheStateReads() turned it on. */
let parsed: Map<string, { stamp: FileStamp | null; state: State }> | null = null;

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

/** The state and the exact text it was parsed from (a writer splices its changes into it). */
export async function readStateText(dir: string): Promise<{ state: State; text: string }> {
  let text: string;
  try {
    text = readFileSync(join(dir, FILES.state), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw corrupt(join(dir, FILES.state), null, 'missing.', 'restore it from git, or `baton init` a new board elsewhere');
    }
    throw e;
  }
  return { state: await parseState(text, join(dir, FILES.state)), text };
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
  for (const sub of ['', 'handoffs', 'results']) {
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

/**
 * state.json's text: sorted keys, tasks keyed by id, two-space indent. `touched` names the
 * tasks changed since the file was read (their keys are re-sorted); `created` says whether
 * ids were added (the task map is re-sorted). Omit both to sort everything.
 */
export function serializeState(state: State, touched?: ReadonlySet<string>, created = true): string {
  return `${JSON.stringify(toStoredState(state, touched ?? new Set(Object.keys(state.tasks)), created), null, 2)}\n`;
}

const TASKS_OPEN = '\n  "tasks": {\n';
const TASKS_CLOSE = '\n  }\n}\n';

/** One task as it stands inside the tasks map of state.json (four-space indent, no newline). */
const taskEntry = (id: string, task: unknown) => `    "${id}": ${JSON.stringify(sortValue(task), null, 2).replace(/\n/g, '\n    ')}`;

/**
 * state.json's new text made from the text it was read from: the untouched tasks are kept as
 * they stand and only the touched ones are serialised again, which on a board of 10,000 tasks
 * saves most of a write's time. Returns null when the old text is not in the canonical layout
 * (a hand edit, an empty task map, a big import): the caller then serialises everything.
 */
function spliceState(previous: string, state: State, touched: ReadonlySet<string>): string | null {
  if (touched.size > 64) return null;
  const open = previous.indexOf(TASKS_OPEN);
  if (open < 0 || !previous.endsWith(TASKS_CLOSE)) return null;
  let body = previous.slice(open + TASKS_OPEN.length, previous.length - TASKS_CLOSE.length);
  /** Where the entry of `id` starts in the body, or -1. Ids hold no quote or newline. */
  const find = (id: string): number => {
    if (body.startsWith(`    "${id}": {\n`)) return 0;
    const i = body.indexOf(`\n    "${id}": {\n`);
    return i < 0 ? -1 : i + 1;
  };
  let ids: string[] | null = null;
  for (const id of [...touched].sort()) {
    const task = state.tasks[id];
    const at = find(id);
    if (!task) {
      // Taken off the board (archived): its entry goes, with one separator.
      if (at < 0) return null;
      const end = body.indexOf('\n    }', at);
      if (end < 0) return null;
      let from = at;
      let to = end + 6;
      if (body.startsWith(',\n', to)) to += 2;
      else if (from >= 2) from -= 2;
      body = `${body.slice(0, from)}${body.slice(to)}`;
      if (!body) return null; // an empty map has a layout of its own
      continue;
    }
    if (at >= 0) {
      const end = body.indexOf('\n    }', at);
      if (end < 0) return null;
      body = `${body.slice(0, at)}${taskEntry(id, task)}${body.slice(end + 6)}`;
      continue;
    }
    // A new task goes before the first id after it that is already written, or last.
    ids ??= Object.keys(state.tasks).sort();
    let before = -1;
    for (let k = ids.indexOf(id) + 1; k < ids.length && before < 0; k++) before = find(ids[k]!);
    body = before < 0 ? `${body},\n${taskEntry(id, task)}` : `${body.slice(0, before)}${taskEntry(id, task)},\n${body.slice(before)}`;
  }
  const { tasks: _tasks, ...rest } = state;
  const head = JSON.stringify(sortValue({ ...rest, tasks: {} }), null, 2);
  const headEnd = head.lastIndexOf('"tasks": {}');
  if (headEnd < 0) return null;
  return `${head.slice(0, headEnd)}"tasks": {\n${body}${TASKS_CLOSE}`;
}

export function writeState(dir: string, state: State, touched: ReadonlySet<string>, created: boolean, previous?: string, via?: string): void {
  let text = previous === undefined ? null : spliceState(previous, state, touched);
  // The test suite runs with BATON_VERIFY_WRITES=1: every spliced write is checked against a
  // full serialisation, so a change that forgot tx.touch() can't go unnoticed.
  if (text !== null && process.env.BATON_VERIFY_WRITES === '1') {
    const full = serializeState(state, touched, created);
    if (full !== text) throw new BatonError('INTERNAL', 'Spliced state.json differs from a full serialisation (a change without tx.touch).');
  }
  text ??= serializeState(state, touched, created);
  writeFileAtomic(join(dir, FILES.state), text, true, via);
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
