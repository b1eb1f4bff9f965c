import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError } from '../rules/errors.js';
import { entryOf, type TaskEntry } from '../rules/finder.js';
import { ALL_SHARDS, shardOf, shardPath } from '../rules/layout.js';
import type { Task } from '../rules/types.js';
import { statText, writeFileAtomic } from './store.js';

/**
 * The board index: for each shard, the stamp of its file and one small entry per task in it
 * (rules/finder.ts TaskEntry: status, parent, dependencies, and lease, holder and paths while in
 * flight). With it a write reads state.json and only the shards of the tasks its rules look at;
 * the finder answers the rest (whose lease ran out, what an agent holds, who depends on a task).
 *
 * It is a cache of the shards and never a source of truth: a shard whose file's stamp (size,
 * mtime, ctime, inode) is not the one recorded is read again and its entries rebuilt, so a git
 * operation, a person's edit, another baton or a crash between a commit and the index only cost
 * the next write those shards. Each write that commits records the shards it wrote, under the
 * lock, after its commit point. Local to the clone, like the read index: the name matches the
 * board's `.baton.lock.*` ignore line. BATON_NO_INDEX=1 leaves it unread and unwritten.
 *
 * The file: a first line `{"v":1}`, then one line per shard, `["00","<stamp>",{"<id>":[...]}]`,
 * a task as [status, parent, depends_on, lease ([session, expires_at] or null), assignee,
 * reviewer, 1 when in flight with owned paths else 0]. A write copies the lines of the shards it
 * did not touch as they were.
 */
export const TASK_INDEX = '.baton.lock.tasks';

/** The stamp of a shard whose file may change again without its stamp moving: read it again. */
export const RACY = 'racy';

/** How close to state.json's mtime a shard's may be before its stamp is not trusted (as store.ts's readStateText). */
const RACY_MS = 2000;

/** A shard's stamp as recorded: RACY when unknown ('' from a read that did not trust it) or within RACY_MS of `ref`. */
export function settled(stamp: string, ref: number): string {
  if (!stamp) return RACY;
  const mtime = Number(stamp.split(':')[1]);
  return Number.isFinite(mtime) && mtime < ref - RACY_MS ? stamp : RACY;
}

const HEADER = '{"v":1}';

type Row = [TaskEntry['status'], string | null, string[], [string, string] | null, string | null, string | null, 0 | 1];

const rowOf = (e: TaskEntry): Row => [e.status, e.parent, e.depends_on, e.lease, e.assignee, e.reviewer, e.paths ? 1 : 0];
const entryOfRow = (r: Row): TaskEntry => ({ status: r[0], parent: r[1], depends_on: r[2], lease: r[3], assignee: r[4], reviewer: r[5], paths: r[6] === 1 });

/** One shard's part of the index as read: its file's stamp and its line, parsed when needed. */
export interface IndexedShard {
  stamp: string;
  line: string;
}

export const indexOff = (): boolean => process.env.BATON_NO_INDEX === '1';

/** The index as written, by shard; null when there is none or it is not one this baton reads. */
export function readTaskIndex(dir: string): Map<string, IndexedShard> | null {
  let text: string;
  try {
    text = readFileSync(join(dir, TASK_INDEX), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  if (lines[0] !== HEADER) return null;
  const out = new Map<string, IndexedShard>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    // ["00","<stamp>",{...}]: the shard and the stamp without parsing the rest.
    const m = /^\["([0-3][0-9a-f])","([^"]*)",/.exec(line);
    if (!m) return null;
    out.set(m[1]!, { stamp: m[2]!, line });
  }
  return out;
}

/** The entries of one indexed shard; null when its line is not what this baton writes. */
function entriesOfLine(line: string): Record<string, Row> | null {
  try {
    const v = JSON.parse(line) as [string, string, Record<string, Row>];
    return v[2] && typeof v[2] === 'object' ? v[2] : null;
  } catch {
    return null;
  }
}

/** A shard's line from its tasks and its file's stamp. */
export function lineOf(shard: string, stamp: string, tasks: Iterable<Task>): string {
  const rows: Record<string, Row> = {};
  for (const t of [...tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) rows[t.id] = rowOf(entryOf(t));
  return JSON.stringify([shard, stamp, rows]);
}

/**
 * The finder's entries, by id, of every shard not in `fresh` (those the index holds for the
 * stamps found), and of the tasks of the shards in `fresh` (read again); null when a line can't
 * be read (the caller reads the board whole).
 */
export function entriesOf(index: ReadonlyMap<string, IndexedShard>, fresh: ReadonlySet<string>, freshTasks: (s: string) => Iterable<Task>): Map<string, TaskEntry> | null {
  const out = new Map<string, TaskEntry>();
  for (const s of ALL_SHARDS) {
    if (fresh.has(s)) {
      for (const t of freshTasks(s)) out.set(t.id, entryOf(t));
      continue;
    }
    const rows = entriesOfLine(index.get(s)!.line);
    if (!rows) return null;
    for (const id in rows) {
      if (shardOf(id) !== s) return null; // not what a write records: read the board whole
      out.set(id, entryOfRow(rows[id]!));
    }
  }
  return out;
}

/** The stamp of a shard file as the index records it ('' for a missing file). */
function shardStamp(dir: string, s: string): string {
  try {
    return statText(statSync(join(dir, shardPath(s))));
  } catch {
    return '';
  }
}

/** Writes the index from one line per shard (every shard: the index covers the whole board or nothing). */
export function writeTaskIndex(dir: string, lines: ReadonlyMap<string, string>, via: string): void {
  const out = [HEADER];
  for (const s of ALL_SHARDS) out.push(lines.get(s)!);
  writeFileAtomic(join(dir, TASK_INDEX), `${out.join('\n')}\n`, false, via);
}


/**
 * For the tests (BATON_VERIFY_WRITES=1): the index as written must be what the shard files give,
 * stamps and entries alike; else INTERNAL, naming the shard.
 */
export function verifyTaskIndex(dir: string): void {
  const index = readTaskIndex(dir);
  if (!index) throw new BatonError('INTERNAL', `${TASK_INDEX} is missing or unreadable after a write that wrote it.`);
  for (const s of ALL_SHARDS) {
    const stamp = shardStamp(dir, s);
    let tasks: Task[] = [];
    if (stamp) tasks = Object.values(JSON.parse(readFileSync(join(dir, shardPath(s)), 'utf8')) as Record<string, Task>);
    const got = index.get(s);
    // A racy stamp is read again by the next write; any other must be the file's, with its tasks.
    const want = lineOf(s, got?.stamp === RACY ? RACY : stamp, tasks);
    if (got?.line !== want) throw new BatonError('INTERNAL', `${TASK_INDEX}: shard ${s} is indexed as ${got?.line.slice(0, 200)} but its file gives ${want.slice(0, 200)} (a bug in baton).`);
  }
}
