import { IN_FLIGHT, isFinished } from './vocabulary.js';
import type { State, Status, Task } from './types.js';

/**
 * What a write's rules ask of the tasks they do not name, answered without reading every task:
 * whose lease ran out, what an agent has in progress, what holds paths, who depends on a task,
 * a goal's children, how many tasks there are, a task's status. Every list is a superset: the
 * rule checks each task it is given (so a task the transaction changed meanwhile is judged as it
 * is now).
 *
 * Two ways to answer: from the whole board (every task in memory: each list is every task), or
 * from the board index (store/taskindex.ts: one small entry per task, kept with every commit),
 * where only the shards of the tasks a rule looks at are read. Either gives the rules the same
 * answers; the unit tests compare them.
 */
export interface TaskFinder {
  /** How many tasks are on the board. */
  count(): number;
  /** A task's status without reading its record; undefined when no task on the board has the id. */
  status(id: string): Status | undefined;
  /** Tasks that may hold a lease; with `lapsedBy` (ms), those whose lease may have ended by then. */
  leased(lapsedBy?: number): Iterable<Task>;
  /** Tasks that may hold a lease of this session. */
  leasedBy(session: string): Iterable<Task>;
  /** Tasks that may be in progress by this agent. */
  inProgressBy(agent: string): Iterable<Task>;
  /** Tasks that may be in flight (rank.ts IN_FLIGHT) holding owned paths. */
  holdingPaths(): Iterable<Task>;
  /** Tasks that may depend on `id`. */
  dependents(id: string): Iterable<Task>;
  /** Tasks that may have `id` as their parent. */
  children(id: string): Iterable<Task>;
  /** Tasks that may be finished and have last changed by `cutoff` (ms): what archiving may take. */
  finishedBy(cutoff: number): Iterable<Task>;
}

/**
 * A task as the board index keeps it: what the finder's questions need, and nothing a person
 * reads. The lease, assignee, reviewer and paths only while the task holds a lease or is in flight.
 */
export interface TaskEntry {
  status: Status;
  parent: string | null;
  depends_on: string[];
  /** [session, expires_at] of its lease. */
  lease: [string, string] | null;
  assignee: string | null;
  reviewer: string | null;
  /** Whether it is in flight with owned paths. */
  paths: boolean;
  /** When it last changed ('' in the index's short list, which holds no finished task). */
  updated_at: string;
}

export function entryOf(t: Task): TaskEntry {
  const flight = IN_FLIGHT.has(t.status);
  return {
    status: t.status,
    parent: t.parent,
    depends_on: t.depends_on,
    lease: t.lease ? [t.lease.session, t.lease.expires_at] : null,
    assignee: flight || t.lease ? t.assignee : null,
    reviewer: flight || t.lease ? t.reviewer : null,
    paths: flight && t.owned_paths.length > 0,
    updated_at: t.updated_at,
  };
}

/** Whether an entry is in the index's short list: holding a lease, or in flight with a holder or owned paths. */
export const inFlightEntry = (e: TaskEntry): boolean => e.lease !== null || e.assignee !== null || e.reviewer !== null || e.paths;

/** The finder of a board held whole in memory: every list is every task. */
export function wholeFinder(state: State): TaskFinder {
  const all = () => Object.values(state.tasks);
  return {
    count: () => Object.keys(state.tasks).length,
    status: (id) => state.tasks[id]?.status,
    leased: all,
    leasedBy: all,
    inProgressBy: all,
    holdingPaths: all,
    dependents: all,
    children: all,
    finishedBy: all,
  };
}

/** What an index-backed finder needs of the transaction's lazily read board. */
export interface LazyTasks {
  /**
   * The tasks read so far (each shard whole), the only ones the transaction can have changed, in
   * the order the whole board holds them: those it began with by id, then those it added.
   */
  loaded(): Task[];
  /** Whether the shard holding this id has been read (the task's entry may be out of date). */
  isLoaded(id: string): boolean;
  /** The task with this id, its shard read if need be; undefined when none. */
  get(id: string): Task | undefined;
  /** How many tasks the transaction added (positive) or took off the board (negative) so far. */
  countDelta(): number;
}

/**
 * The board index as the finder reads it (store/taskindex.ts): each task's entry as the
 * transaction began, the tasks holding a lease or in flight listed apart (the few most writes ask
 * about), every entry only when a rule asks who depends on a task or a goal's children.
 */
export interface IndexView {
  count(): number;
  status(id: string): Status | undefined;
  /** The entries of the tasks holding a lease or in flight with a holder or owned paths. */
  flight(): Iterable<[string, TaskEntry]>;
  /** Every task's entry. */
  all(): Iterable<[string, TaskEntry]>;
}

/** The index view of entries held in memory (a board index built whole, the tests). */
export function mapView(entries: ReadonlyMap<string, TaskEntry>): IndexView {
  const flight = [...entries].filter(([, e]) => inFlightEntry(e));
  return { count: () => entries.size, status: (id) => entries.get(id)?.status, flight: () => flight, all: () => entries };
}

/**
 * The finder over the board index as the transaction began (`index`) and the tasks it has read
 * since: an entry of a task whose shard was read may be out of date, so such tasks are judged by
 * their records, and every read task is in every list.
 */
export function indexFinder(index: IndexView, lazy: LazyTasks): TaskFinder {
  let dependents: Map<string, string[]> | null = null;
  let children: Map<string, string[]> | null = null;
  // The shards of the tasks named are read; then every task read so far is given.
  const pick = (ids: Iterable<string>): Task[] => {
    for (const id of ids) if (!lazy.isLoaded(id)) lazy.get(id);
    return lazy.loaded();
  };
  const where = (keep: (e: TaskEntry) => boolean): string[] => {
    const out: string[] = [];
    for (const [id, e] of index.flight()) if (keep(e)) out.push(id);
    return out;
  };
  return {
    count: () => index.count() + lazy.countDelta(),
    status: (id) => (lazy.isLoaded(id) ? lazy.get(id)?.status : index.status(id)),
    leased: (lapsedBy) => pick(where((e) => e.lease !== null && (lapsedBy === undefined || Date.parse(e.lease[1]) <= lapsedBy))),
    leasedBy: (session) => pick(where((e) => e.lease?.[0] === session)),
    inProgressBy: (agent) => pick(where((e) => e.status === 'in_progress' && e.assignee === agent)),
    holdingPaths: () => pick(where((e) => e.paths)),
    dependents: (id) => {
      if (!dependents) {
        dependents = new Map();
        for (const [tid, e] of index.all()) for (const d of e.depends_on) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(tid);
      }
      return pick(dependents.get(id) ?? []);
    },
    finishedBy: (cutoff) => {
      const ids: string[] = [];
      for (const [tid, e] of index.all()) if (isFinished(e.status) && Date.parse(e.updated_at) <= cutoff) ids.push(tid);
      return pick(ids);
    },
    children: (id) => {
      if (!children) {
        children = new Map();
        for (const [tid, e] of index.all()) if (e.parent !== null) (children.get(e.parent) ?? children.set(e.parent, []).get(e.parent)!).push(tid);
      }
      return pick(children.get(id) ?? []);
    },
  };
}
