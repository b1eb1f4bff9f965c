import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BatonError } from '../rules/errors.js';
import { entryOf, type IndexView, inFlightEntry, type TaskEntry } from '../rules/finder.js';
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
 * The file: a first line `{"v":4}`, then two lines per shard: its head, `["00","<stamp>",<count>,
 * [<flight>...]]`, a flight being [id, status, assignee, reviewer, lease ([session, expires_at] or
 * null), 1 when it owns paths] for each task holding a lease or in flight; then its rows,
 * `{"<id>":[status, parent, depends_on, kind, estimate, labels, updated_at]}`,
 * parsed only by a write that asks who depends on a task, a goal's children or a status, and by
 * the render (renderboard.ts), which ranks and counts every task from them. A write copies the
 * lines of the shards it did not touch as they were.
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

const HEADER = '{"v":4}';

/** A task in its shard's rows: [status, parent, depends_on, kind, estimate, labels, updated_at]. */
export type Row = [Task['status'], Task['parent'], Task['depends_on'], Task['kind'], Task['estimate'], Task['labels'], Task['updated_at']];

/** A task's row. */
export const rowOf = (t: Task): Row => [t.status, t.parent, t.depends_on, t.kind, t.estimate, t.labels, t.updated_at];
const ROW_LENGTH: Row['length'] = 7;
/** A task holding a lease or in flight, in its shard's head: [id, status, assignee, reviewer, lease, 1 when it owns paths]. */
type Flight = [string, TaskEntry['status'], string | null, string | null, [string, string] | null, 0 | 1];

/** One shard's part of the index as read: its file's stamp, its count, and its two lines, parsed when needed. */
export interface IndexedShard {
  stamp: string;
  count: number;
  /** `["00","<stamp>",<count>,[<flight>...]]\n{<rows>}`: what a write copies when it did not touch the shard. */
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
  for (let i = 1; i + 1 < lines.length; i += 2) {
    const x = indexedShard(`${lines[i]}\n${lines[i + 1]}`);
    if (!x) return null;
    out.set(x.shard, x);
  }
  return out;
}

/** A shard's two lines as read or written: the shard, the stamp and the count without parsing the rest. */
function indexedShard(line: string): (IndexedShard & { shard: string }) | null {
  const m = /^\["([0-3][0-9a-f])","([^"]*)",(\d+),/.exec(line);
  return m ? { shard: m[1]!, stamp: m[2]!, count: Number(m[3]), line } : null;
}

/** The index a write just wrote, as readTaskIndex would read it back (the render after it takes it so). */
export function indexOfLines(lines: ReadonlyMap<string, string>): Map<string, IndexedShard> {
  const out = new Map<string, IndexedShard>();
  for (const line of lines.values()) {
    const x = indexedShard(line);
    if (x) out.set(x.shard, x);
  }
  return out;
}

/** A shard's two lines from its tasks and its file's stamp. */
export function lineOf(shard: string, stamp: string, tasks: Iterable<Task>): string {
  const rows: Record<string, Row> = {};
  const flight: Flight[] = [];
  for (const t of [...tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const e = entryOf(t);
    rows[t.id] = rowOf(t);
    if (inFlightEntry(e)) flight.push([t.id, e.status, e.assignee, e.reviewer, e.lease, e.paths ? 1 : 0]);
  }
  return `${JSON.stringify([shard, stamp, Object.keys(rows).length, flight])}\n${JSON.stringify(rows)}`;
}

/**
 * What the finder reads of the index (rules/finder.ts IndexView): the shards not in `fresh` from
 * their lines, each parsed when first asked, and the shards in `fresh` (read again) from their
 * tasks. Null when a line is not what this baton writes (the caller reads the board whole).
 */
export function indexView(index: ReadonlyMap<string, IndexedShard>, fresh: ReadonlySet<string>, freshTasks: (s: string) => Task[]): IndexView | null {
  const flights: [string, TaskEntry][] = [];
  let count = 0;
  const rows = new Map<string, Map<string, TaskEntry>>();
  for (const s of ALL_SHARDS) {
    if (fresh.has(s)) {
      const m = new Map<string, TaskEntry>();
      for (const t of freshTasks(s)) {
        const e = entryOf(t);
        m.set(t.id, e);
        if (inFlightEntry(e)) flights.push([t.id, e]);
      }
      rows.set(s, m);
      count += m.size;
      continue;
    }
    const x = index.get(s)!;
    count += x.count;
    let head: [string, string, number, Flight[]];
    try {
      head = JSON.parse(x.line.slice(0, x.line.indexOf('\n'))) as typeof head;
    } catch {
      return null;
    }
    for (const f of head[3]) {
      if (shardOf(f[0]) !== s) return null; // not what a write records: read the board whole
      flights.push([f[0], { status: f[1], parent: null, depends_on: [], assignee: f[2], reviewer: f[3], lease: f[4], paths: f[5] === 1, updated_at: '' }]);
    }
  }
  const shardRows = (s: string): Map<string, TaskEntry> => {
    let m = rows.get(s);
    if (m) return m;
    m = new Map();
    const x = index.get(s)!;
    const parsed = JSON.parse(x.line.slice(x.line.indexOf('\n') + 1)) as Record<string, Row>;
    for (const id in parsed) {
      if (shardOf(id) !== s) throw new BatonError('INTERNAL', `${TASK_INDEX}: shard ${s} lists ${id}, which belongs in another (delete the file: the next write rebuilds it).`);
      const r = parsed[id]!;
      m.set(id, { status: r[0], parent: r[1], depends_on: r[2], assignee: null, reviewer: null, lease: null, paths: false, updated_at: r[6] });
    }
    rows.set(s, m);
    return m;
  };
  return {
    count: () => count,
    status: (id) => shardRows(shardOf(id)).get(id)?.status,
    flight: () => flights,
    all: function* () {
      for (const s of ALL_SHARDS) yield* shardRows(s);
    },
  };
}

/**
 * One shard's tasks as its line records them, for the render: each id with its row, and whether
 * its head lists it (holding a lease or in flight: a row does not give its lease). False when the
 * line is not what this baton writes.
 */
export function rowsOfLine(shard: string, line: string, take: (id: string, row: Row, leased: boolean) => void): boolean {
  try {
    const cut = line.indexOf('\n');
    const head = JSON.parse(line.slice(0, cut)) as [string, string, number, Flight[]];
    const parsed = JSON.parse(line.slice(cut + 1)) as Record<string, Row>;
    const flight = new Set(head[3].map((f) => f[0]));
    let n = 0;
    for (const id in parsed) {
      const r = parsed[id]!;
      if (shardOf(id) !== shard || !Array.isArray(r) || r.length !== ROW_LENGTH) return false;
      take(id, r, flight.has(id));
      if (flight.has(id)) n++;
    }
    return n === flight.size;
  } catch {
    return false;
  }
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
