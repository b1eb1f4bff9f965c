import { BatonError, invalidInput, notFound } from './errors.js';
import { checkId, mintId } from './ids.js';
import { type Kind, KINDS, type State, type Status, STATUSES, type Task } from './types.js';
import { isFinished } from './vocabulary.js';
import type { TaskFinder } from './finder.js';
import type { EmitInput, Tx } from './change.js';

/** Limits that keep one task from swamping the board files and every table they render in. */
const LIMITS = { title: 300, description: 65_536, note: 65_536, paths: 200, labels: 50, label: 64, specialty: 64 };

/** Allowed status moves (SPEC §6); anything else is INVALID_TRANSITION. */
export const TRANSITIONS: Record<Status, readonly Status[]> = {
  todo: ['in_progress', 'blocked', 'cancelled', 'waiting', 'done'],
  in_progress: ['review', 'done', 'todo', 'handoff', 'blocked', 'cancelled'],
  review: ['in_review', 'in_progress', 'blocked', 'cancelled'],
  in_review: ['done', 'changes_requested', 'review', 'blocked', 'cancelled'],
  changes_requested: ['in_progress', 'todo', 'blocked', 'cancelled'],
  handoff: ['in_progress', 'todo', 'blocked', 'cancelled'],
  blocked: ['todo', 'review', 'changes_requested', 'waiting', 'cancelled'],
  waiting: ['done', 'blocked', 'cancelled', 'todo'],
  done: [],
  cancelled: [],
};

// Defined with the board's words (vocabulary.ts), where the finder takes it without a cycle.
export { isFinished };

export function checkTransition(task: Task, to: Status): void {
  if (!TRANSITIONS[task.status].includes(to)) {
    const allowed = TRANSITIONS[task.status];
    throw new BatonError(
      'INVALID_TRANSITION',
      `Task ${task.id} is ${task.status}; it can't become ${to}${allowed.length ? ` (from ${task.status}: ${allowed.join(', ')})` : ''}.`,
      { hint: `baton show ${task.id}`, details: { task: task.id, from: task.status, to } },
    );
  }
}

/** Whether the table lets `task` become `to` (goal completion asks before it tries). */
export const canMove = (task: Task, to: Status): boolean => TRANSITIONS[task.status].includes(to);

/**
 * The one place a task's status changes: the move is checked against TRANSITIONS
 * (INVALID_TRANSITION otherwise), the task is marked changed, and `why`, the event that
 * says what happened, is recorded for it.
 */
export function moveTask(tx: Tx, task: Task, to: Status, why: Omit<EmitInput, 'task'>): void {
  checkTransition(task, to);
  task.status = to;
  tx.touch(task);
  tx.emit({ ...why, task: task.id });
}

export function parseStatus(raw: string): Status {
  const s = raw.trim().toLowerCase().replace(/-/g, '_') as Status;
  if (!STATUSES.includes(s)) throw invalidInput(`Unknown status '${raw}': use one of ${STATUSES.join(', ')}.`);
  return s;
}

export function parseKind(raw: string): Kind {
  const k = raw.trim().toLowerCase() as Kind;
  if (!KINDS.includes(k)) throw invalidInput(`Unknown kind '${raw}': use task, goal or gate.`);
  return k;
}

/** P0..P3 or 0..3; 0 is most urgent. */
export function parsePriority(raw: string | number): number {
  const m = /^[pP]?([0-3])$/.exec(String(raw).trim());
  if (!m) throw invalidInput(`Invalid priority '${raw}': use P0, P1, P2 or P3 (P0 is most urgent).`);
  return Number(m[1]);
}

export function parseEstimate(raw: string | number): number {
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (!Number.isFinite(n) || n <= 0 || n > 10_000) throw invalidInput(`Invalid estimate '${raw}': use a positive number.`);
  return n;
}

export function checkTitle(raw: string): string {
  const title = raw.trim();
  if (!title) throw invalidInput('The title is empty: give the task a short title.');
  const len = [...title].length;
  if (len > LIMITS.title) {
    throw invalidInput(
      `The title is ${len} characters; the limit is ${LIMITS.title}. Keep it short and put the detail in --description.`,
    );
  }
  return title;
}

function checkText(raw: string, what: string, limit: number): string {
  if (raw.length > limit) throw invalidInput(`The ${what} is ${raw.length} characters; the limit is ${limit}.`);
  return raw;
}

export const checkDescription = (raw: string) => checkText(raw, 'description', LIMITS.description);
export const checkNote = (raw: string) => checkText(raw, 'note', LIMITS.note);

function checkShortList(items: string[], what: string, max: number, itemMax: number): string[] {
  if (items.length > max) throw invalidInput(`Too many ${what} (${items.length}); the limit is ${max}.`);
  for (const i of items) {
    if (i.length > itemMax || /[\u0000-\u001f]/.test(i)) throw invalidInput(`Invalid ${what.replace(/s$/, '')} '${i.slice(0, 40)}'.`);
  }
  return [...new Set(items)];
}

export const checkLabels = (items: string[]) => checkShortList(items, 'labels', LIMITS.labels, LIMITS.label);

export function checkSpecialty(raw: string | null): string | null {
  if (raw === null || raw.trim() === '') return null;
  return checkId(raw.trim(), 'specialty');
}

/** Owned paths are repository-relative globs; nothing may reach outside the repository. */
export function checkPaths(items: string[]): string[] {
  const out = checkShortList(items, 'paths', LIMITS.paths, 1024).map((p) => p.replace(/\\/g, '/').replace(/^\.\//, ''));
  for (const p of out) {
    if (p.startsWith('/') || /^[a-zA-Z]:/.test(p) || p.split('/').includes('..')) {
      throw invalidInput(`Invalid path '${p}': owned paths are relative to the repository root and may not use '..'.`);
    }
  }
  return out;
}

export function splitList(raw: string | string[] | undefined): string[] {
  if (raw === undefined) return [];
  const parts = Array.isArray(raw) ? raw.flatMap((r) => r.split(',')) : raw.split(',');
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** `k=v,k2=v2` into a record; values may not be empty. */
export function parseMatch(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of splitList(raw)) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (eq <= 0 || !k || !v) throw invalidInput(`Invalid match '${part}': use key=value pairs separated by commas (repo=web,pr=42).`);
    out[k] = v;
  }
  return out;
}

export function getTask(state: State, rawId: string): Task {
  const id = checkId(rawId, 'task id');
  const task = state.tasks[id];
  if (!task) throw notFound('task', id);
  return task;
}

/** Cycles of more tasks than this are spelled with the middle elided (details.cycle has them all). */
const CYCLE_SPELL = 12;

/** A cycle as people read it: every task when short, else its first and last few. */
export function spellCycle(cycle: readonly string[]): string {
  if (cycle.length <= CYCLE_SPELL) return cycle.join(' → ');
  const half = CYCLE_SPELL / 2;
  return [...cycle.slice(0, half), `… ${cycle.length - CYCLE_SPELL} more …`, ...cycle.slice(-half)].join(' → ');
}

/**
 * Refuses a dependency edge set that would close a cycle; the message spells it out.
 * `deps` replaces `id`'s depends_on for the check.
 */
export function checkNoCycle(state: State, id: string, deps: string[]): void {
  const depsOf = (t: string) => (t === id ? deps : (state.tasks[t]?.depends_on ?? []));
  // Depth-first from each new dep looking for `id`; the path found is the cycle. An explicit
  // stack, not recursion: a chain of 100,000 tasks is a path that deep.
  const seen = new Set<string>();
  const path: string[] = [];
  const next: number[] = [];
  for (const d of deps) {
    let found = d === id;
    if (!found && !seen.has(d)) {
      seen.add(d);
      path.push(d);
      next.push(0);
    }
    while (!found && path.length) {
      const top = path.length - 1;
      const ds = depsOf(path[top]!);
      const k = next[top]!++;
      if (k >= ds.length) {
        path.pop();
        next.pop();
        continue;
      }
      const t = ds[k]!;
      if (t === id) found = true;
      else if (!seen.has(t)) {
        seen.add(t);
        path.push(t);
        next.push(0);
      }
    }
    if (found) {
      const cycle = [id, ...path, id];
      throw new BatonError('DEPENDENCY_CYCLE', `That would make a dependency cycle: ${spellCycle(cycle)}.`, {
        hint: `baton dep rm ${path.length ? path[path.length - 1] : id} ${id}`,
        details: { cycle },
      });
    }
  }
}

/** Ids that resolve though they are not on the board: archived tasks (store/archivefiles.ts), or a plan's own (import). */
export interface KnownIds {
  has(id: string): boolean;
}

export function checkDepsExist(state: State, id: string, deps: string[], known?: KnownIds): string[] {
  const out = deps.map((d) => checkId(d, 'dependency id'));
  for (const d of out) {
    if (d === id) throw new BatonError('DEPENDENCY_CYCLE', `Task ${id} can't depend on itself.`, { details: { cycle: [id, id] } });
    // Own keys only: `constructor` is a valid id that every object answers to.
    if (!Object.hasOwn(state.tasks, d) && !known?.has(d)) {
      throw new BatonError('NOT_FOUND', `Dependency '${d}' of ${id} is not a task on this board.`, {
        hint: 'baton list',
        details: { kind: 'task', id: d },
      });
    }
  }
  return [...new Set(out)];
}

export interface TaskInput {
  id?: string | undefined;
  title: string;
  description?: string | null | undefined;
  kind?: Kind | undefined;
  priority?: number | undefined;
  specialty?: string | null | undefined;
  depends_on?: string[] | undefined;
  owned_paths?: string[] | undefined;
  candidate_owned_paths?: string[] | undefined;
  candidate_depends_on?: string[] | undefined;
  estimate?: number | undefined;
  labels?: string[] | undefined;
  parent?: string | null | undefined;
  review_required?: boolean | null | undefined;
  gate?: Task['gate'] | undefined;
  status?: Status | undefined;
}

/** A fresh task id, on the board and in its archive (`archived`, with how many it holds). */
export function mintTaskId(find: TaskFinder, archived?: KnownIds & { count(): number }): string {
  return mintId('t', (id) => find.status(id) !== undefined || (archived?.has(id) ?? false), find.count() + (archived?.count() ?? 0));
}

export function checkParent(state: State, id: string, parent: string | null | undefined, known?: KnownIds): string | null {
  if (parent === undefined || parent === null || parent === '') return null;
  const p = checkId(parent, 'parent id');
  if (p === id) throw invalidInput(`Task ${id} can't be its own parent.`);
  if (!state.tasks[p] && !known?.has(p)) throw notFound('task', p);
  return p;
}

/** Builds a new task from checked input (the caller has validated ids and lists). */
export function createTask(tx: Tx, input: TaskInput & { id: string }): Task {
  const kind = input.kind ?? 'task';
  if (kind === 'gate' && !input.gate) throw invalidInput('A gate needs --gate-type (and usually --match k=v,...).');
  if (kind !== 'gate' && input.gate) throw invalidInput('--gate-type and --match only apply to --kind gate.');
  const task: Task = {
    id: input.id,
    title: input.title,
    description: input.description ?? null,
    kind,
    status: input.status ?? (kind === 'gate' ? 'waiting' : 'todo'),
    priority: input.priority ?? 2,
    specialty: input.specialty ?? null,
    depends_on: input.depends_on ?? [],
    candidate_depends_on: input.candidate_depends_on ?? [],
    owned_paths: input.owned_paths ?? [],
    candidate_owned_paths: input.candidate_owned_paths ?? [],
    estimate: input.estimate ?? 1,
    labels: input.labels ?? [],
    parent: input.parent ?? null,
    assignee: null,
    reviewer: null,
    lease: null,
    review_required: input.review_required ?? null,
    gate: input.gate ?? null,
    blocked: null,
    notes: [],
    created_at: tx.now,
    updated_at: tx.now,
    rev: tx.revision,
  };
  tx.state.tasks[task.id] = task;
  tx.created(task);
  return task;
}

/** A task as commands print it: the SPEC §6 fields in order, internal fields removed. */
export interface TaskJson {
  id: string;
  title: string;
  description: string | null;
  kind: Kind;
  status: Status;
  priority: number;
  specialty: string | null;
  depends_on: string[];
  candidate_depends_on: string[];
  owned_paths: string[];
  candidate_owned_paths: string[];
  estimate: number;
  labels: string[];
  parent: string | null;
  assignee: string | null;
  reviewer: string | null;
  lease: { session: string; expires_at: string; heartbeat_at: string } | null;
  review_required: boolean | null;
  gate: Task['gate'];
  blocked: Task['blocked'];
  notes: Task['notes'];
  created_at: string;
  updated_at: string;
  rev: number;
  /** Where the result of `done --result` is and what it starts with; null when none was given. */
  result: NonNullable<Task['result']> | null;
}

export function toTaskJson(t: Task): TaskJson {
  return {
    id: t.id,
    title: t.title,
    description: t.description,
    kind: t.kind,
    status: t.status,
    priority: t.priority,
    specialty: t.specialty,
    depends_on: t.depends_on,
    candidate_depends_on: t.candidate_depends_on,
    owned_paths: t.owned_paths,
    candidate_owned_paths: t.candidate_owned_paths,
    estimate: t.estimate,
    labels: t.labels,
    parent: t.parent,
    assignee: t.assignee,
    reviewer: t.reviewer,
    lease: t.lease ? { session: t.lease.session, expires_at: t.lease.expires_at, heartbeat_at: t.lease.heartbeat_at } : null,
    review_required: t.review_required,
    gate: t.gate,
    blocked: t.blocked,
    notes: t.notes,
    created_at: t.created_at,
    updated_at: t.updated_at,
    rev: t.rev,
    result: t.result ?? null,
  };
}

/** Ready = todo, a plain task, every dependency finished (SPEC §7 Ranking, minus agent fit). */
export function isReady(state: State, t: Task): boolean {
  if (t.status !== 'todo' || t.kind !== 'task') return false;
  for (const d of t.depends_on) {
    const dep = state.tasks[d];
    if (dep && !isFinished(dep.status)) return false;
  }
  return true;
}

/**
 * Cycles anywhere in the graph, each spelled as a path (for doctor and import), at most `limit`
 * of them. Depth-first with an explicit stack (a 100,000-task chain is a path that deep), in
 * the order a recursive search would take: roots by id, dependencies in their listed order.
 */
export function findCycles(state: State, limit = Infinity): string[][] {
  const DONE = -2;
  // Absent: not reached yet; >= 0: on the current path, at that position; DONE: finished.
  const pos = new Map<string, number>();
  const path: string[] = [];
  const next: number[] = [];
  const cycles: string[][] = [];
  for (const root of Object.keys(state.tasks).sort()) {
    if (pos.has(root)) continue;
    pos.set(root, 0);
    path.push(root);
    next.push(0);
    while (path.length) {
      const top = path.length - 1;
      const deps = state.tasks[path[top]!]!.depends_on;
      const k = next[top]!++;
      if (k >= deps.length) {
        pos.set(path.pop()!, DONE);
        next.pop();
        continue;
      }
      const d = deps[k]!;
      if (!state.tasks[d]) continue;
      const p = pos.get(d);
      if (p === undefined) {
        pos.set(d, path.length);
        path.push(d);
        next.push(0);
      } else if (p >= 0) {
        cycles.push([...path.slice(p), d]);
        if (cycles.length >= limit) return cycles;
      }
    }
  }
  return cycles;
}
