import { KINDS, ROLES, STATUSES, type State, type Task } from './types.js';

// ---------------------------------------------------------------- fast shape check
// Checking 10,000 tasks with zod costs more than a whole command may take, so reads check
// each task with the plain function below and fall back to zod (for its precise message)
// only when it fails. test/unit.test.ts fuzzes both and requires that this check never
// accepts what the zod schema rejects.

const REF = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const statusSet = new Set<string>(STATUSES);
const kindSet = new Set<string>(KINDS);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNullStr = (v: unknown) => v === null || typeof v === 'string';
const isIso = (v: unknown) => typeof v === 'string' && v.length > 0;
const isInt = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function strArray(v: unknown, re?: RegExp): boolean {
  if (!Array.isArray(v)) return false;
  for (const x of v) if (typeof x !== 'string' || (re && !re.test(x))) return false;
  return true;
}

function stringRecord(v: unknown): boolean {
  if (!isObj(v)) return false;
  for (const k in v) if (typeof v[k] !== 'string') return false;
  return true;
}

export function taskLooksValid(t: unknown): boolean {
  if (!isObj(t)) return false;
  const priority = t.priority;
  const lease = t.lease;
  const gate = t.gate;
  const blocked = t.blocked;
  const notes = t.notes;
  if (
    !(
      isStr(t.id) && REF.test(t.id) &&
      isStr(t.title) && t.title.length > 0 &&
      isNullStr(t.description) &&
      isStr(t.kind) && kindSet.has(t.kind) &&
      isStr(t.status) && statusSet.has(t.status) &&
      isInt(priority, 0) && (priority as number) <= 3 &&
      isNullStr(t.specialty) &&
      strArray(t.depends_on, REF) &&
      strArray(t.candidate_depends_on, REF) &&
      strArray(t.owned_paths) &&
      strArray(t.candidate_owned_paths) &&
      typeof t.estimate === 'number' && t.estimate > 0 &&
      strArray(t.labels) &&
      (t.parent === null || (isStr(t.parent) && REF.test(t.parent))) &&
      isNullStr(t.assignee) &&
      isNullStr(t.reviewer) &&
      (t.review_required === null || typeof t.review_required === 'boolean') &&
      isIso(t.created_at) &&
      isIso(t.updated_at) &&
      isInt(t.rev, 0) &&
      (t.result === undefined || (isObj(t.result) && isStr(t.result.ref) && isInt(t.result.size, 0) && (t.result.kind === 'text' || t.result.kind === 'json') && isStr(t.result.summary)))
    )
  ) {
    return false;
  }
  if (lease !== null && !(isObj(lease) && isStr(lease.session) && isIso(lease.expires_at) && isIso(lease.heartbeat_at) && isStr(lease.token_hash))) return false;
  if (gate !== null && !(isObj(gate) && isStr(gate.type) && stringRecord(gate.match))) return false;
  if (blocked !== null && !(isObj(blocked) && isStr(blocked.reason) && isStr(blocked.previous) && statusSet.has(blocked.previous) && isIso(blocked.at))) return false;
  if (!Array.isArray(notes)) return false;
  for (const n of notes) if (!(isObj(n) && isIso(n.at) && isNullStr(n.author) && isStr(n.text))) return false;
  return true;
}

const roleSet = new Set<string>(ROLES);

function agentLooksValid(a: unknown): boolean {
  return isObj(a) && isStr(a.id) && REF.test(a.id) && isStr(a.name) && a.name.length > 0 && isStr(a.host) && isStr(a.role) && roleSet.has(a.role) && strArray(a.specialties, REF) && isIso(a.created_at) && isIso(a.last_seen_at);
}

const SPAWN_STATES = new Set(['starting', 'running', 'exited', 'failed']);
const isNullInt = (v: unknown) => v === null || isInt(v, -Infinity);

function spawnLooksValid(x: unknown): boolean {
  return (
    isObj(x) && isStr(x.agent) && strArray(x.command) && (x.command as string[]).length > 0 && isStr(x.cwd) && isNullStr(x.task) && isStr(x.state) && SPAWN_STATES.has(x.state) &&
    isNullInt(x.pid) && isNullInt(x.supervisor_pid) && isStr(x.log) && isNullStr(x.prompt_file) && isNullStr(x.worktree) && isNullStr(x.branch) && isNullInt(x.exit_code) &&
    isNullStr(x.signal) && isNullStr(x.error) && (x.exited_at === null || isIso(x.exited_at))
  );
}

function sessionLooksValid(s: unknown): boolean {
  return (
    isObj(s) && isStr(s.id) && REF.test(s.id) && isStr(s.agent) && REF.test(s.agent) && isStr(s.role) && roleSet.has(s.role) &&
    isStr(s.host) && isNullStr(s.window) && isNullStr(s.parent) && isInt(s.depth, 0) && isIso(s.started_at) && isIso(s.heartbeat_at) &&
    (s.ended_at === null || isIso(s.ended_at)) && isNullStr(s.end_reason) && isStr(s.token_hash) && (s.canonical === undefined || typeof s.canonical === 'boolean') && (s.spawn === undefined || spawnLooksValid(s.spawn))
  );
}

function recordOf(v: unknown, check: (x: unknown) => boolean): boolean {
  if (!isObj(v)) return false;
  for (const k in v) if (!check(v[k])) return false;
  return true;
}

function handoffLooksValid(h: unknown): boolean {
  if (!isObj(h)) return false;
  if (!(isStr(h.task) && REF.test(h.task) && (h.state === 'open' || h.state === 'taken') && isStr(h.from) && REF.test(h.from) && isStr(h.from_session) && isStr(h.to) && isStr(h.notes) && isIso(h.at))) return false;
  if (!(isNullStr(h.branch) && isNullStr(h.diff_stat) && strArray(h.acked_by, REF) && (h.taken_by === null || (isStr(h.taken_by) && REF.test(h.taken_by))) && (h.taken_at === null || isIso(h.taken_at)))) return false;
  if (!Array.isArray(h.recent)) return false;
  for (const r of h.recent) if (!(isObj(r) && isInt(r.seq, -Infinity) && isIso(r.ts) && isStr(r.type) && isNullStr(r.actor))) return false;
  return true;
}

function questionLooksValid(q: unknown): boolean {
  if (!isObj(q)) return false;
  const a = q.answer;
  return (
    isStr(q.id) && REF.test(q.id) && isStr(q.from_agent) && isStr(q.from_session) && isStr(q.to) && isStr(q.asked_to) && isNullStr(q.task) && isStr(q.text) && strArray(q.choices) && isIso(q.asked_at) &&
    (a === null || (isObj(a) && isStr(a.text) && isNullStr(a.by) && isIso(a.at)))
  );
}

/** True when `raw` surely matches StateSchema. */
export function stateLooksValid(raw: unknown): raw is State {
  if (!isObj(raw)) return false;
  const board = raw.board;
  if (
    !(
      raw.schema === 1 &&
      isObj(board) && isStr(board.name) && isIso(board.created_at) &&
      isInt(raw.revision, 0) &&
      isInt(raw.seq, 0) &&
      isObj(raw.tasks) &&
      recordOf(raw.agents, agentLooksValid) &&
      recordOf(raw.sessions, sessionLooksValid) &&
      recordOf(raw.handoffs, handoffLooksValid) &&
      (raw.archived === undefined || recordOf(raw.archived, isIso)) &&
      (raw.tip === undefined || isStr(raw.tip)) &&
      (raw.questions === undefined || recordOf(raw.questions, questionLooksValid))
    )
  ) {
    return false;
  }
  const tasks = raw.tasks as Record<string, unknown>;
  for (const k in tasks) if (!taskLooksValid(tasks[k])) return false;
  return true;
}

/**
 * The state ready for JSON.stringify with sorted keys. JSON.parse keeps the file's (sorted)
 * key order, so only what this transaction touched is re-sorted: re-sorting 10,000 untouched
 * tasks would cost more than the rest of the write.
 */
export function toStoredState(state: State, touched: ReadonlySet<string>, created: boolean): Record<string, unknown> {
  for (const id of touched) {
    const t = state.tasks[id];
    if (t) state.tasks[id] = sortValue(t) as Task;
  }
  let tasks: Record<string, unknown> = state.tasks;
  if (created) {
    tasks = {};
    for (const id of Object.keys(state.tasks).sort()) tasks[id] = state.tasks[id];
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(state).sort()) out[k] = k === 'tasks' ? tasks : sortValue((state as Record<string, unknown>)[k]);
  return out;
}

/** A deep copy with every object's keys in code-unit order. */
export function sortValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortValue);
  if (!isObj(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortValue(v[k]);
  return out;
}
