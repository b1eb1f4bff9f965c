import { pruneTombstones } from './archiving.js';
import { sha256 } from './digest.js';
import type { BatonEvent, Handoff, Session, State, Task } from './types.js';

/**
 * A three-way structural merge of boards (the git merge driver). Pure functions of the three
 * versions, and symmetric: merging A into B gives the same board as B into A, so two machines
 * that merge each other converge.
 */

export interface MergeConflict {
  task: string;
  field: string;
  ours: unknown;
  theirs: unknown;
  /** The side whose value the merged board holds: the one that changed the task last. */
  kept: 'ours' | 'theirs';
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
/** A symmetric tie-break: the larger serialisation wins, whichever side it came from. */
const larger = <T>(a: T, b: T): T => (JSON.stringify(a) >= JSON.stringify(b) ? a : b);

/**
 * Status and holder move together (a side that changed them brings all of them); every other
 * field merges on its own: a field only one side changed is taken from that side, and one both
 * changed differently comes from the side with the newer `rev`.
 */
const HOLD = ['status', 'assignee', 'reviewer', 'lease', 'blocked'] as const;
const GROUPS: (readonly (keyof Task)[])[] = (
  ['title', 'description', 'priority', 'specialty', 'estimate', 'labels', 'kind', 'gate', 'parent', 'review_required', 'depends_on', 'candidate_depends_on', 'owned_paths', 'candidate_owned_paths', 'result'] as const
).map((k) => [k]);

const pick = (t: Task, keys: readonly (keyof Task)[]) => Object.fromEntries(keys.map((k) => [k, t[k]]));

function newer(o: Task, t: Task): Task {
  if (o.rev !== t.rev) return o.rev > t.rev ? o : t;
  if (o.updated_at !== t.updated_at) return o.updated_at > t.updated_at ? o : t;
  return larger(o, t);
}

function mergeTask(b: Task | undefined, o: Task, t: Task, conflicts: MergeConflict[], preferTheirs: ReadonlySet<string>): Task {
  if (same(o, t)) return o;
  if (b && same(o, b)) return t;
  if (b && same(t, b)) return o;
  const out: Task = { ...newer(o, t) };
  // Status and holder: a true conflict when both sides moved them differently. Not guessed.
  const bh = b ? pick(b, HOLD) : null;
  const oh = pick(o, HOLD);
  const th = pick(t, HOLD);
  const oMoved = !bh || !same(oh, bh);
  const tMoved = !bh || !same(th, bh);
  if (oMoved && tMoved && !same(oh, th)) {
    if (preferTheirs.has(o.id)) {
      // A claim that lost its race (claim --sync): the remote's holder stands, nothing to ask.
      Object.assign(out, th);
    } else {
      const field = o.status !== t.status ? 'status' : o.assignee !== t.assignee ? 'assignee' : 'lease';
      const value = (x: Task) => (field === 'status' ? x.status : field === 'assignee' ? x.assignee : x.lease?.session ?? null);
      conflicts.push({ task: o.id, field, ours: value(o), theirs: value(t), kept: newer(o, t) === o ? 'ours' : 'theirs' });
      Object.assign(out, pick(newer(o, t), HOLD));
    }
  } else Object.assign(out, oMoved && !tMoved ? oh : tMoved && !oMoved ? th : pick(newer(o, t), HOLD));
  for (const group of GROUPS) {
    const bg = b ? pick(b, group) : null;
    const og = pick(o, group);
    const tg = pick(t, group);
    const oChanged = !bg || !same(og, bg);
    const tChanged = !bg || !same(tg, bg);
    Object.assign(out, oChanged && !tChanged ? og : tChanged && !oChanged ? tg : pick(newer(o, t), group));
  }
  // Notes only ever grow: the union, in time order.
  const notes = new Map<string, Task['notes'][number]>();
  for (const n of [...o.notes, ...t.notes]) notes.set(JSON.stringify(n), n);
  out.notes = [...notes.values()].sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));
  out.rev = Math.max(o.rev, t.rev);
  out.updated_at = o.updated_at > t.updated_at ? o.updated_at : t.updated_at;
  out.created_at = o.created_at < t.created_at ? o.created_at : t.created_at;
  return out;
}

function mergeRecord<T>(b: Record<string, T> | undefined, o: Record<string, T>, t: Record<string, T>, both: (b: T | undefined, o: T, t: T) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const id of new Set([...Object.keys(o), ...Object.keys(t)])) {
    const x = o[id];
    const y = t[id];
    out[id] = x === undefined ? y! : y === undefined ? x : both(b?.[id], x, y);
  }
  return out;
}

const mergeSession = (b: Session | undefined, o: Session, t: Session): Session => {
  if (same(o, t)) return o;
  if (b && same(o, b)) return t;
  if (b && same(t, b)) return o;
  // An ended session stays ended; otherwise the one heard from last.
  if (o.ended_at && !t.ended_at) return o;
  if (t.ended_at && !o.ended_at) return t;
  return o.heartbeat_at !== t.heartbeat_at ? (o.heartbeat_at > t.heartbeat_at ? o : t) : larger(o, t);
};

const mergeHandoff = (b: Handoff | undefined, o: Handoff, t: Handoff): Handoff => {
  if (same(o, t)) return o;
  if (b && same(o, b)) return t;
  if (b && same(t, b)) return o;
  if (o.state !== t.state) return o.state === 'taken' ? o : t;
  return o.at !== t.at ? (o.at > t.at ? o : t) : larger(o, t);
};

export interface StateMerge {
  state: State;
  conflicts: MergeConflict[];
}

/**
 * Merges state.json. The revision becomes max + 1; seq counts our events, the other side's new
 * ones and the `board.merged` event the log merge adds (see mergeEvents). Where that count is
 * off (cherry-picked or archived events), the next write sees it and reconciles.
 */
export function mergeStates(base: State | null, ours: State, theirs: State, preferTheirs: ReadonlySet<string> = new Set()): StateMerge {
  const conflicts: MergeConflict[] = [];
  const tasks = mergeRecord(base?.tasks, ours.tasks, theirs.tasks, (b, o, t) => mergeTask(b, o, t, conflicts, preferTheirs));
  // A task one side archived (its tombstone) and the other still has as it was in the base stays
  // archived; one the other side changed since is kept, and the next write settles it (store/archivefiles.ts).
  for (const [side, other] of [[ours, theirs], [theirs, ours]] as const) {
    for (const id of Object.keys(side.archived ?? {})) {
      const kept = other.tasks[id];
      if (kept && !side.tasks[id] && base?.tasks[id] && same(kept, base.tasks[id])) delete tasks[id];
    }
  }
  const archived = ours.archived || theirs.archived ? pruneTombstones(mergeRecord(base?.archived, ours.archived ?? {}, theirs.archived ?? {}, (_b, o, t) => (o > t ? o : t))) : undefined;
  const agents = mergeRecord(base?.agents, ours.agents, theirs.agents, (b, o, t) => (same(o, t) ? o : b && same(o, b) ? t : b && same(t, b) ? o : o.last_seen_at !== t.last_seen_at ? (o.last_seen_at > t.last_seen_at ? o : t) : larger(o, t)));
  const sessions = mergeRecord(base?.sessions, ours.sessions, theirs.sessions, mergeSession);
  const handoffs = mergeRecord(base?.handoffs, ours.handoffs, theirs.handoffs, mergeHandoff);
  // A question is asked once and answered once: an answered copy wins.
  const questions = ours.questions || theirs.questions
    ? mergeRecord(base?.questions, ours.questions ?? {}, theirs.questions ?? {}, (_b, o, t) => (same(o, t) ? o : o.answer && !t.answer ? o : t.answer && !o.answer ? t : larger(o, t)))
    : undefined;
  const baseSeq = base?.seq ?? 0;
  const state: State = {
    schema: 1,
    board: base?.board ?? (ours.board.created_at <= theirs.board.created_at ? ours.board : theirs.board),
    revision: Math.max(ours.revision, theirs.revision) + 1,
    seq: ours.seq + Math.max(0, theirs.seq - baseSeq) + 1,
    tasks,
    agents,
    sessions,
    handoffs,
    ...(archived ? { archived } : {}),
    ...(questions ? { questions } : {}),
  };
  return { state, conflicts };
}

/**
 * Merges events.jsonl: the union by event id, never a deletion. Our events stay exactly where
 * they are (the log in this working tree only ever grows, which is what a rebase's replay needs
 * too); the events only the other side has follow in its order, numbered on from our last, and
 * a `board.merged` event closes the merge. Whatever this cannot see (events the other side
 * archived, a state counted differently) shows as a disagreement that the next write reconciles.
 */
export function mergeEvents(base: BatonEvent[], ours: BatonEvent[], theirs: BatonEvent[]): BatonEvent[] {
  const have = new Set(ours.map((e) => e.id));
  const out = [...ours];
  let seq = ours.at(-1)?.seq ?? base.at(-1)?.seq ?? 0;
  for (const e of theirs) {
    if (have.has(e.id)) continue;
    have.add(e.id);
    out.push({ ...e, seq: ++seq });
  }
  // A loop, not Math.max(...events): spreading a log of 100,000 events as arguments overflows the stack.
  let revision = 0;
  for (const side of [ours, theirs]) for (const e of side) if (e.revision > revision) revision = e.revision;
  revision += 1;
  const heads = [ours.at(-1)?.id ?? '', theirs.at(-1)?.id ?? ''].sort().join(':');
  const ts = [ours.at(-1)?.ts ?? '', theirs.at(-1)?.ts ?? ''].sort().at(-1)!;
  const id = `e-merge-${sha256(heads).slice(0, 10)}`;
  if (have.has(id)) return out; // these two heads were merged before: once is the record
  out.push({
    id,
    seq: seq + 1,
    ts,
    revision,
    type: 'board.merged',
    actor: null,
    session: null,
    task: null,
    data: { heads: heads.split(':') },
    notify: null,
  });
  return out;
}
