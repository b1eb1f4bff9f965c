import { sortValue } from './shape.js';
import type { State, Task } from './types.js';

/**
 * The board's file layout. Layout 1 kept every task inside state.json, so every write read and
 * wrote the whole board. Layout 2 (this one) keeps state.json small (the board, agents,
 * sessions, handoffs, questions, the revision) and puts the tasks in 64 shard files,
 * `tasks/00.json` … `tasks/3f.json`, each task in the shard its id hashes to: a write rewrites
 * the shards of the tasks it changed and nothing else. A shard is a JSON object of tasks keyed
 * by id, keys sorted at every depth, two-space indent, as state.json's task map was, so a git
 * diff of one change is a few lines and the merge driver merges a shard task by task. All 64
 * files exist from the board's start (`{}` while empty) and none is ever removed: a write only
 * ever changes tracked files, so `git stash`, a branch switch or a checkout carries no task
 * file it should not, and git hands every file both sides changed to the merge driver.
 *
 * state.json's `schema` names the layout (1 or 2); in memory a board is the same State either way.
 */
export const LAYOUT = 2;
export const SHARD_DIR = 'tasks';
const SHARD_NAME = /^[0-3][0-9a-f]\.json$/;

/** Is `name` (inside tasks/) a shard file's name? */
export const isShardName = (name: string): boolean => SHARD_NAME.test(name);

/** The shard of a task id: its 32-bit FNV-1a hash modulo 64, two hex digits. */
export function shardOf(id: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return ((h >>> 0) % SHARDS).toString(16).padStart(2, '0');
}

/**
 * How many shards: few enough that reading them all costs little more than one file (a file costs
 * Node a stat and a read, some 50 µs each on a small machine), many enough that a shard of a
 * 100,000-task board stays near a megabyte.
 */
const SHARDS = 64;

/** Every shard, 00 to 3f: a board holds all 64 files from its start, so no write ever adds a file. */
export const ALL_SHARDS: readonly string[] = Array.from({ length: SHARDS }, (_, i) => i.toString(16).padStart(2, '0'));

/** The shard file of a shard, relative to the board directory. */
export const shardPath = (shard: string): string => `${SHARD_DIR}/${shard}.json`;

/** A shard's text: its tasks by sorted id, keys sorted at every depth, two-space indent. */
export function shardText(tasks: readonly Task[]): string {
  const out: Record<string, unknown> = {};
  for (const t of [...tasks].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) out[t.id] = sortValue(t);
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** The tasks of a board grouped by shard. */
export function tasksByShard(tasks: Record<string, Task>): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const id in tasks) {
    const s = shardOf(id);
    const list = out.get(s);
    if (list) list.push(tasks[id]!);
    else out.set(s, [tasks[id]!]);
  }
  return out;
}

/** state.json's text in layout 2: everything but the tasks, keys sorted, two-space indent. */
export function boardText(state: State): string {
  const { tasks: _tasks, ...rest } = state;
  return `${JSON.stringify(sortValue({ ...rest, schema: LAYOUT }), null, 2)}\n`;
}
