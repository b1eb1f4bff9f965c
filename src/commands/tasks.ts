import { toMinute } from '../rules/clock.js';
import { bounded, cmp } from '../rules/json.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { checkId } from '../rules/ids.js';
import type { BatonEvent, State, Status, Task } from '../rules/types.js';
import { readEventsSince } from '../store/eventlog.js';
import {
  checkDepsExist,
  checkDescription,
  checkLabels,
  checkNoCycle,
  checkParent,
  checkPaths,
  checkSpecialty,
  checkTitle,
  createTask,
  getTask,
  isReady,
  mintTaskId,
  parseEstimate,
  parseKind,
  parseMatch,
  parsePriority,
  parseStatus,
  splitList,
  type TaskJson,
  toTaskJson,
} from '../rules/taskmodel.js';
import { blockTask, cancelTask, unblockTask } from '../rules/lifecycle.js';
import { callerOf, type Intervention, intervention } from '../rules/intervene.js';
import type { Tx } from '../store/tx.js';
import { PROFILE_LIMITS } from '../rules/sessions.js';
import { rankTasks } from '../rules/rank.js';
import { archiveFileFor, archiveFinished, archiveIds, findArchived } from '../store/archivefiles.js';
import { type Ctx, boardDir, load, loadHot, mutate, personOf } from './context.js';

export interface TaskResult {
  revision: number;
  task: TaskJson;
}

// ---------------------------------------------------------------- add

export interface AddOptions {
  id?: string;
  priority?: string;
  specialty?: string;
  dependsOn?: string;
  paths?: string;
  estimate?: number;
  parent?: string;
  kind?: string;
  gateType?: string;
  match?: string;
  review?: boolean;
  description?: string;
  label?: string[];
}

export async function add(title: string, o: AddOptions, ctx: Ctx): Promise<TaskResult> {
  const checked = {
    title: checkTitle(title),
    description: o.description === undefined ? null : checkDescription(o.description),
    priority: o.priority === undefined ? undefined : parsePriority(o.priority),
    specialty: o.specialty === undefined ? null : checkSpecialty(o.specialty),
    estimate: o.estimate === undefined ? undefined : parseEstimate(o.estimate),
    kind: o.kind === undefined ? undefined : parseKind(o.kind),
    owned_paths: checkPaths(splitList(o.paths)),
    labels: checkLabels(splitList(o.label)),
    review_required: o.review ?? null,
    gate: o.gateType ? { type: checkId(o.gateType, 'gate type'), match: parseMatch(o.match) } : o.match ? (() => { throw invalidInput('--match needs --gate-type.'); })() : null,
  };
  const id = o.id === undefined ? undefined : checkId(o.id, 'task id');
  const deps = splitList(o.dependsOn);
  const archived = archiveIds(boardDir(ctx));
  const r = await mutate(ctx, (tx) => {
    const taskId = id ?? mintTaskId(tx.find, archived);
    if (tx.state.tasks[taskId]) {
      throw new BatonError('INVALID_INPUT', `A task with id '${taskId}' already exists.`, { hint: `baton edit ${taskId} …, or pick another --id` });
    }
    if (archived.has(taskId)) {
      throw new BatonError('INVALID_INPUT', `A task with id '${taskId}' already exists in the archive; an id is never used twice.`, { hint: `baton show ${taskId}, or pick another --id` });
    }
    const depends_on = checkDepsExist(tx.state, taskId, deps, archived);
    const parent = checkParent(tx.state, taskId, o.parent, archived);
    const task = createTask(tx, { ...checked, id: taskId, depends_on, parent });
    tx.emit({ type: 'task.created', task: task.id, data: { title: task.title } });
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

// ---------------------------------------------------------------- edit

export interface EditOptions {
  title?: string;
  description?: string;
  priority?: string;
  specialty?: string;
  dependsOn?: string;
  paths?: string;
  estimate?: number;
  parent?: string;
  label?: string[];
  addLabel?: string[];
  rmLabel?: string[];
  review?: boolean;
  confirmPaths?: boolean;
  confirmDeps?: boolean;
}

export interface EditResult extends TaskResult {
  changed: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Sets fields that differ, records from/to for the event; returns the changed field names. */
function applyChanges(task: Task, patch: Partial<Task>): Record<string, { from: unknown; to: unknown }> {
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  for (const [k, v] of Object.entries(patch) as [keyof Task, unknown][]) {
    if (v === undefined || same(task[k], v)) continue;
    changes[k] = { from: task[k], to: v };
    (task as Record<string, unknown>)[k] = v;
  }
  return changes;
}

/** Short values go into the event whole; long text only by length, to keep the log lean. */
function eventChanges(changes: Record<string, { from: unknown; to: unknown }>) {
  const clip = (v: unknown) => (typeof v === 'string' && v.length > 200 ? `(${v.length} characters)` : v);
  return Object.fromEntries(Object.entries(changes).map(([k, c]) => [k, { from: clip(c.from), to: clip(c.to) }]));
}

export async function edit(rawId: string, o: EditOptions, ctx: Ctx): Promise<EditResult> {
  const id = checkId(rawId, 'task id');
  const patch: Partial<Task> = {
    title: o.title === undefined ? undefined : checkTitle(o.title),
    description: o.description === undefined ? undefined : o.description === '' ? null : checkDescription(o.description),
    priority: o.priority === undefined ? undefined : parsePriority(o.priority),
    specialty: o.specialty === undefined ? undefined : checkSpecialty(o.specialty),
    estimate: o.estimate === undefined ? undefined : parseEstimate(o.estimate),
    owned_paths: o.paths === undefined ? undefined : checkPaths(splitList(o.paths)),
    labels: o.label === undefined ? undefined : checkLabels(splitList(o.label)),
    review_required: o.review,
  };
  const addLabels = checkLabels(splitList(o.addLabel));
  const rmLabels = splitList(o.rmLabel);
  const archived = archiveIds(boardDir(ctx));
  const r = await mutate(ctx, (tx) => {
    const task = getTask(tx.state, id);
    const p: Partial<Task> = { ...patch };
    if (o.dependsOn !== undefined) p.depends_on = checkDepsExist(tx.state, id, splitList(o.dependsOn), archived);
    if (o.parent !== undefined) p.parent = checkParent(tx.state, id, o.parent, archived);
    if (addLabels.length || rmLabels.length) {
      const base = p.labels ?? task.labels;
      p.labels = checkLabels([...base.filter((l) => !rmLabels.includes(l)), ...addLabels]);
    }
    if (o.confirmPaths) {
      p.owned_paths = checkPaths([...(p.owned_paths ?? task.owned_paths), ...task.candidate_owned_paths]);
      p.candidate_owned_paths = [];
    }
    if (o.confirmDeps) {
      p.depends_on = checkDepsExist(tx.state, id, [...(p.depends_on ?? task.depends_on), ...task.candidate_depends_on], archived);
      p.candidate_depends_on = [];
    }
    if (p.depends_on) checkNoCycle(tx.state, id, p.depends_on);
    const changes = applyChanges(task, p);
    const changed = Object.keys(changes);
    if (changed.length) {
      tx.touch(task);
      tx.emit({ type: 'task.updated', task: id, data: { changes: eventChanges(changes) } });
    }
    return { task: toTaskJson(task), changed };
  });
  return { revision: r.revision, ...r.value };
}

// ---------------------------------------------------------------- dep add|rm

export async function dep(action: 'add' | 'rm', rawId: string, rawDep: string, ctx: Ctx): Promise<TaskResult> {
  const id = checkId(rawId, 'task id');
  const depId = checkId(rawDep, 'dependency id');
  const r = await mutate(ctx, (tx) => {
    const task = getTask(tx.state, id);
    if (action === 'add') {
      checkDepsExist(tx.state, id, [depId], archiveIds(boardDir(ctx)));
      if (!task.depends_on.includes(depId)) {
        checkNoCycle(tx.state, id, [...task.depends_on, depId]);
        task.depends_on = [...task.depends_on, depId];
        tx.touch(task);
        tx.emit({ type: 'task.dependency_added', task: id, data: { depends_on: depId } });
      }
    } else if (task.depends_on.includes(depId)) {
      task.depends_on = task.depends_on.filter((d) => d !== depId);
      tx.touch(task);
      tx.emit({ type: 'task.dependency_removed', task: id, data: { depends_on: depId } });
    } else {
      throw new BatonError('NOT_FOUND', `Task ${id} does not depend on ${depId}.`, { hint: `baton show ${id}`, details: { kind: 'dependency', id: depId } });
    }
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

// ---------------------------------------------------------------- block / unblock / cancel

export async function block(rawId: string, reason: string | undefined, o: { force?: boolean }, ctx: Ctx): Promise<TaskResult> {
  const id = checkId(rawId, 'task id');
  const why = (reason ?? '').trim();
  if (!why) throw invalidInput('Say why the task is blocked: --reason "…".');
  checkDescription(why);
  const r = await mutate(ctx, (tx) => {
    const task = getTask(tx.state, id);
    blockTask(tx, task, why, intervening(tx, ctx, task, o.force, 'block', why));
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

export async function unblock(rawId: string, o: { force?: boolean }, ctx: Ctx): Promise<TaskResult> {
  const id = checkId(rawId, 'task id');
  const r = await mutate(ctx, (tx) => {
    const task = getTask(tx.state, id);
    unblockTask(tx, task, task.status === 'blocked' ? intervening(tx, ctx, task, o.force, 'unblock', null) : null);
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

export async function cancel(rawId: string, reason: string | undefined, o: { force?: boolean }, ctx: Ctx): Promise<TaskResult> {
  const id = checkId(rawId, 'task id');
  const r = await mutate(ctx, (tx) => {
    const task = getTask(tx.state, id);
    cancelTask(tx, task, reason ?? null, intervening(tx, ctx, task, o.force, 'cancel', reason ?? null));
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

/** An intervention on work another live session holds (intervene.ts): refused without --force, unless an orchestrator. */
function intervening(tx: Tx, ctx: Ctx, task: Task, force: boolean | undefined, verb: string, reason: string | null): Intervention | null {
  const caller = callerOf(tx.state, ctx.creds, personOf(ctx));
  if (caller.session) tx.actAs(caller.agent!, caller.session);
  return intervention(tx.state, task, caller, Boolean(force), verb, reason, Date.parse(tx.now));
}

// ---------------------------------------------------------------- list / show

export interface ListOptions {
  status?: string;
  specialty?: string;
  assignee?: string;
  kind?: string;
  label?: string;
  ready?: boolean;
  limit?: number;
}

export interface ListResult {
  revision: number;
  tasks: TaskJson[];
  /** More tasks matched than --limit let through. */
  truncated: boolean;
}

export async function list(o: ListOptions, ctx: Ctx): Promise<ListResult> {
  const statuses = splitList(o.status).map(parseStatus);
  const kinds = splitList(o.kind).map(parseKind);
  const specialty = o.specialty === undefined ? undefined : checkSpecialty(o.specialty);
  const assignee = o.assignee === undefined ? undefined : checkId(o.assignee, 'assignee');
  const { state, config } = o.ready ? await loadHot(ctx) : await load(ctx);
  let tasks = o.ready
    ? rankTasks(state, config, { agent: null, now: Date.now(), pathsRefuse: PROFILE_LIMITS[config.profile].pathsRefuse }).ranked.map((c) => c.task)
    : Object.values(state.tasks).sort((a, b) => a.priority - b.priority || cmp(a.created_at, b.created_at) || cmp(a.id, b.id));
  tasks = tasks.filter(
    (t) =>
      (statuses.length === 0 || statuses.includes(t.status)) &&
      (kinds.length === 0 || kinds.includes(t.kind)) &&
      (specialty === undefined || t.specialty === specialty) &&
      (assignee === undefined || t.assignee === assignee) &&
      (o.label === undefined || t.labels.includes(o.label)),
  );
  const { items, truncated } = bounded(tasks, o.limit);
  return { revision: state.revision, tasks: items.map(toTaskJson), truncated };
}

/**
 * How deep `show` nests children. Deeper descendants still count in `progress`; the node at
 * this depth says how many are not listed. The JSON of a tree nested thousands deep can't be
 * serialised (JSON.stringify recurses), and no one reads a tree that deep.
 */
const TREE_DEPTH = 64;

interface TreeNode {
  id: string;
  title: string;
  kind: string;
  status: Status;
  children: TreeNode[];
  /** Descendants below this node left out because the tree is TREE_DEPTH deep here. */
  hidden?: number;
}

export interface ShowResult {
  revision: number;
  task: TaskJson;
  ready: boolean;
  dependents: string[];
  /** Children (by --parent), recursively, TREE_DEPTH levels at most; empty for a task without any. */
  children: TreeNode[];
  /** Finished children over all descendants (null when there are none). */
  progress: { done: number; cancelled: number; total: number } | null;
  history: BatonEvent[];
  /** Where an archived task is kept (archive/tasks/), and since when; null for a task on the board. */
  archived: { at: string; file: string } | null;
}

/**
 * The descendants of `id` by parent, as a tree (children by creation order) and as a flat list
 * in the tree's pre-order. An explicit stack, and each task's children found once from an index,
 * so a parent chain of 100,000 tasks neither overflows nor rescans the board at every level. A
 * parent cycle back through `id` lists `id` once more, without expanding it again.
 */
function treeOf(state: State, id: string): { children: TreeNode[]; flat: TreeNode[] } {
  const kids = new Map<string, Task[]>();
  for (const t of Object.values(state.tasks)) {
    if (t.parent === null) continue;
    const list = kids.get(t.parent);
    if (list) list.push(t);
    else kids.set(t.parent, [t]);
  }
  for (const list of kids.values()) list.sort((a, b) => cmp(a.created_at, b.created_at) || cmp(a.id, b.id));
  const children: TreeNode[] = [];
  const flat: TreeNode[] = [];
  const seen = new Set([id]);
  /** `into` is null below the depth limit; `cut` is then the listed node that counts them. */
  const stack: { task: Task; into: TreeNode[] | null; cut: TreeNode | null; depth: number }[] = [];
  const pushKids = (of: string, into: TreeNode[] | null, cut: TreeNode | null, depth: number) => {
    const list = kids.get(of) ?? [];
    for (let i = list.length - 1; i >= 0; i--) stack.push({ task: list[i]!, into, cut, depth });
  };
  pushKids(id, children, null, 1);
  while (stack.length) {
    const { task, into, cut, depth } = stack.pop()!;
    const node: TreeNode = { id: task.id, title: task.title, kind: task.kind, status: task.status, children: [] };
    flat.push(node);
    if (into) into.push(node);
    else cut!.hidden = (cut!.hidden ?? 0) + 1;
    if (seen.has(task.id)) continue;
    seen.add(task.id);
    if (into && depth < TREE_DEPTH) pushKids(task.id, node.children, null, depth + 1);
    else pushKids(task.id, null, cut ?? node, depth + 1);
  }
  return { children, flat };
}

export async function show(rawId: string, ctx: Ctx): Promise<ShowResult> {
  const id = checkId(rawId, 'task id');
  const { dir, state } = await load(ctx);
  // A task not on the board may be archived: found there, with its history as the log has it.
  const stored = state.tasks[id] ? null : findArchived(dir, id);
  const task = stored ? stored.task : getTask(state, id);
  const dependents = Object.values(state.tasks)
    .filter((t) => t.depends_on.includes(id))
    .map((t) => t.id)
    .sort();
  const history = readEventsSince(dir, 0, state.seq).filter((e) => e.task === id);
  const { children, flat } = treeOf(state, id);
  const progress = flat.length
    ? { done: flat.filter((n) => n.status === 'done').length, cancelled: flat.filter((n) => n.status === 'cancelled').length, total: flat.length }
    : null;
  const archived = stored ? { at: stored.archived_at, file: stored.file } : null;
  return { revision: state.revision, task: toTaskJson(task), ready: !stored && isReady(state, task), dependents, children, progress, history, archived };
}

// ---------------------------------------------------------------- archive

export interface ArchiveResult {
  revision: number;
  /** How many tasks moved, and the first 100 of their ids (oldest first). */
  archived: number;
  ids: string[];
  truncated: boolean;
  /** The archive file they went to (null when nothing moved). */
  file: string | null;
  older_than_days: number;
}

export async function archive(o: { olderThan?: number }, ctx: Ctx): Promise<ArchiveResult> {
  const days = o.olderThan ?? 0;
  const r = await mutate(ctx, (tx) => ({ ids: archiveFinished(tx, days, 'command'), file: archiveFileFor(tx.now) }));
  const { ids, file } = r.value;
  return { revision: r.revision, archived: ids.length, ids: ids.slice(0, 100), truncated: ids.length > 100, file: ids.length ? file : null, older_than_days: days };
}

export function renderArchive(r: ArchiveResult): string {
  if (!r.archived) return `Nothing to archive: no finished task${r.older_than_days ? ` last changed more than ${r.older_than_days} day(s) ago` : ''} (revision ${r.revision}).`;
  return `Archived ${r.archived} finished task(s) to ${r.file} (revision ${r.revision}); \`baton show ID\` still finds them.`;
}

// ---------------------------------------------------------------- text

const line = (t: TaskJson) =>
  `${t.id.padEnd(12)} ${t.status.padEnd(17)} P${t.priority}  ${t.title.replace(/\s+/g, ' ').slice(0, 80)}${t.assignee ? `  @${t.assignee}` : ''}`;

export const renderTask = (r: TaskResult) => line(r.task);

export function renderEdit(r: EditResult): string {
  return r.changed.length ? `${line(r.task)}\nchanged: ${r.changed.join(', ')}` : `${line(r.task)}\nnothing changed`;
}

export function renderList(r: ListResult): string {
  return r.tasks.length ? r.tasks.map(line).join('\n') : 'No tasks match.';
}

export function renderShow(r: ShowResult): string {
  const t = r.task;
  const out = [
    `${t.id} · ${t.title}`,
    `status ${t.status}${r.ready ? ' (ready)' : ''} · P${t.priority} · ${t.kind} · estimate ${t.estimate}${t.specialty ? ` · specialty ${t.specialty}` : ''}`,
  ];
  if (r.archived) out.push(`archived ${r.archived.at} in ${r.archived.file}`);
  if (t.assignee) out.push(`assignee ${t.assignee}${t.lease && t.status !== 'in_review' ? ` · lease until ${t.lease.expires_at}` : ''}`);
  if (t.reviewer) out.push(`reviewer ${t.reviewer}${t.lease && t.status === 'in_review' ? ` · lease until ${t.lease.expires_at}` : ''}`);
  if (t.blocked) out.push(`blocked: ${t.blocked.reason}`);
  if (t.depends_on.length) out.push(`depends on ${t.depends_on.join(', ')}`);
  if (r.dependents.length) out.push(`needed by ${r.dependents.join(', ')}`);
  if (t.owned_paths.length) out.push(`paths ${t.owned_paths.join(', ')}`);
  if (t.labels.length) out.push(`labels ${t.labels.join(', ')}`);
  if (r.progress) {
    out.push('', `progress: ${r.progress.done} of ${r.progress.total} done${r.progress.cancelled ? `, ${r.progress.cancelled} cancelled` : ''}`);
    const stack = r.children.map((n) => ({ n, indent: '  ' })).reverse();
    while (stack.length) {
      const { n, indent } = stack.pop()!;
      out.push(`${indent}${n.status === 'done' ? '✓' : n.status === 'cancelled' ? '✗' : '·'} ${n.id} ${n.status} ${n.title.replace(/\s+/g, ' ').slice(0, 60)}`);
      if (n.hidden) out.push(`${indent}    … ${n.hidden} more below`);
      for (let i = n.children.length - 1; i >= 0; i--) stack.push({ n: n.children[i]!, indent: `${indent}  ` });
    }
  }
  if (t.description) out.push('', t.description);
  if (t.result) out.push('', `result (${t.result.kind}, ${t.result.size} bytes): ${t.result.summary.replace(/\s+/g, ' ').slice(0, 200)}`, `  the whole of it: baton result ${t.id}`);
  if (t.notes.length) {
    // A note by the task's reviewer that is not its author's is a review note (approve or reject --notes).
    out.push('', 'notes:');
    for (const n of t.notes.slice(-20)) out.push(`  ${toMinute(n.at)}Z ${n.author ?? '—'}${n.author && n.author === t.reviewer && n.author !== t.assignee ? ' (review)' : ''}: ${n.text.replace(/\s+/g, ' ')}`);
    if (t.notes.length > 20) out.push(`  … ${t.notes.length - 20} earlier (--json has them all)`);
  }
  if (r.history.length) {
    out.push('', 'history:');
    for (const e of r.history.slice(-20)) out.push(`  #${e.seq} ${e.ts} ${e.type}${e.actor ? ` by ${e.actor}` : ''}`);
  }
  return out.join('\n');
}

