import {
  authenticate,
  dropLease,
  grantLease,
  PROFILE_LIMITS,
  reviewRequired,
  sweepExpiredLeases,
} from '../core/agents.js';
import { BatonError } from '../core/errors.js';
import { checkId } from '../core/ids.js';
import { cmp } from '../core/json.js';
import { onFinished } from '../core/lifecycle.js';
import { handoffsFor } from '../core/notify.js';
import { setsOverlap } from '../core/paths.js';
import { type Candidate, IN_FLIGHT, rankTasks, type Skipped, specialtyFits } from '../core/rank.js';
import { checkNote, checkSpecialty, getTask, isFinished, moveTask, type TaskJson, toTaskJson } from '../core/tasks.js';
import type { Tx } from '../core/tx.js';
import type { Agent, State, Task } from '../core/types.js';
import { parseWatch, untilAnswer, untilWork } from '../core/watch.js';
import { type Me, mutateAs } from './agents.js';
import { boardDir, type Ctx, load } from './context.js';
import { leaseConflict } from './leases.js';

export interface ClaimResult {
  revision: number;
  task: TaskJson;
  /** Give it to heartbeat/done/release --lease-token to act only while this claim stands. */
  lease_token: string;
  lease: { expires_at: string };
  warnings: string[];
}

/** Tasks an agent has in progress (the profile's in-flight limit counts these). */
const inFlightOf = (state: State, agentId: string) => Object.values(state.tasks).filter((t) => t.status === 'in_progress' && t.assignee === agentId);

/** Refuses a claim (or handoff take) past the profile's in-flight limit for this agent. */
export function checkInFlightLimit(tx: Tx, agentId: string, taskId: string): void {
  const limit = PROFILE_LIMITS[tx.config.profile].inFlight;
  const mine = inFlightOf(tx.state, agentId);
  if (mine.length >= limit) {
    throw new BatonError('INVALID_TRANSITION', `You already have ${mine.length} task(s) in progress (${mine.map((t) => t.id).join(', ')}); the ${tx.config.profile} profile allows ${limit}. Finish or release one first.`, {
      hint: `baton done ${mine[0]!.id}`,
      details: { task: taskId, in_flight: mine.map((t) => t.id), limit },
    });
  }
}

function pathHolders(state: State, me: Me, task: Task): { other: Task; hit: [string, string] }[] {
  const out: { other: Task; hit: [string, string] }[] = [];
  if (!task.owned_paths.length) return out;
  for (const other of Object.values(state.tasks)) {
    if (other.id === task.id || !IN_FLIGHT.has(other.status) || other.assignee === me.agentId) continue;
    const hit = setsOverlap(task.owned_paths, other.owned_paths);
    if (hit) out.push({ other, hit });
  }
  return out;
}

/**
 * Gives the task to the calling session with a fresh lease. Shared by claim and claim-next;
 * the caller has already taken back expired leases in this same transaction.
 */
export function claimTask(tx: Tx, me: Me, task: Task): Omit<ClaimResult, 'revision'> {
  if (task.status === 'in_progress' || task.status === 'in_review') {
    const holder = task.lease ? tx.state.sessions[task.lease.session] : undefined;
    throw new BatonError('LEASE_CONFLICT', `Task ${task.id} is already held by ${holder?.agent ?? task.assignee ?? 'someone'}${holder?.id === me.session.id ? ' (you)' : ''}${task.lease ? ` until ${task.lease.expires_at}` : ''}.`, {
      hint: 'baton next',
      details: { task: task.id, holder: holder?.agent ?? task.assignee },
    });
  }
  const resuming = task.status === 'changes_requested';
  if (resuming && task.assignee && task.assignee !== me.agentId) {
    throw new BatonError('INVALID_TRANSITION', `Task ${task.id} was sent back to ${task.assignee}, its author; it is theirs to address.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress' } });
  }
  if (!resuming) {
    if (task.status !== 'todo') {
      throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is ${task.status}; only a todo task can be claimed.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress' } });
    }
    if (task.kind !== 'task') throw new BatonError('INVALID_TRANSITION', `${task.id} is a ${task.kind}; only plain tasks are claimed.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress' } });
    for (const d of task.depends_on) {
      const dep = tx.state.tasks[d];
      if (dep && !isFinished(dep.status)) {
        throw new BatonError('INVALID_TRANSITION', `Task ${task.id} waits for ${d}, which is ${dep.status}.`, { hint: 'baton next', details: { task: task.id, from: task.status, to: 'in_progress', waits_for: d } });
      }
    }
  }
  checkInFlightLimit(tx, me.agentId, task.id);
  const limits = PROFILE_LIMITS[tx.config.profile];
  const warnings: string[] = [];
  for (const { other, hit } of pathHolders(tx.state, me, task)) {
    const msg = `paths ${hit[0]} of ${task.id} overlap ${hit[1]} of ${other.id}, held by ${other.assignee ?? other.status}`;
    if (limits.pathsRefuse) {
      throw new BatonError('PATH_CONFLICT', `Can't claim ${task.id}: ${msg}.`, { hint: `baton paths check ${hit[1]}`, details: { task: task.id, conflicts_with: other.id, paths: hit } });
    }
    warnings.push(msg);
  }
  task.assignee = me.agentId;
  const { token, expires_at } = grantLease(tx, task, me.session.id);
  moveTask(tx, task, 'in_progress', { type: resuming ? 'task.resumed' : 'task.claimed', data: { lease_expires_at: expires_at, warnings } });
  return { task: toTaskJson(task), lease_token: token, lease: { expires_at }, warnings };
}

export async function claim(rawId: string, ctx: Ctx): Promise<ClaimResult> {
  const id = checkId(rawId, 'task id');
  const r = await mutateAs(ctx, (tx, me) => {
    sweepExpiredLeases(tx);
    return claimTask(tx, me, getTask(tx.state, id));
  });
  return { revision: r.revision, ...r.value };
}

export interface ClaimNextOptions {
  specialty?: string;
  watch?: string;
  explain?: boolean;
}

function noWork(reason: string, skipped: Skipped[]): BatonError {
  return new BatonError('NO_WORK', reason, { hint: 'baton next --watch 60', details: { skipped: skipped.slice(0, 20) } });
}

export async function claimNext(o: ClaimNextOptions, ctx: Ctx): Promise<ClaimResult & { explain: Explain | null }> {
  const specialty = o.specialty === undefined ? null : checkSpecialty(o.specialty);
  const dir = boardDir(ctx);
  return untilWork(dir, parseWatch(o.watch), async () => {
    const r = await mutateAs(ctx, (tx, me) => {
      sweepExpiredLeases(tx);
      const agent = tx.state.agents[me.agentId]!;
      const limits = PROFILE_LIMITS[tx.config.profile];
      const { ranked, skipped } = rankTasks(tx.state, tx.config, { agent, now: Date.parse(tx.now), specialty, pathsRefuse: limits.pathsRefuse });
      const best = ranked[0];
      if (!best) {
        const unfinished = Object.values(tx.state.tasks).some((t) => !isFinished(t.status));
        throw noWork(unfinished ? `Nothing ready for ${agent.id}${specialty ? ` in ${specialty}` : ''}: ${skipped.length} todo task(s) wait (see details.skipped).` : 'The board is finished: nothing left to claim.', skipped);
      }
      const claimed = claimTask(tx, me, best.task);
      return { ...claimed, explain: o.explain ? explainOf(ranked, skipped) : null };
    });
    return { revision: r.revision, ...r.value };
  });
}

export function renderClaim(r: ClaimResult): string {
  return [
    `Claimed ${r.task.id}: ${r.task.title.replace(/\s+/g, ' ').slice(0, 80)}`,
    `lease until ${r.lease.expires_at} · lease token ${r.lease_token}`,
    ...r.warnings.map((w) => `warning: ${w}`),
    `When finished: baton done ${r.task.id}   (keep it: baton heartbeat --task ${r.task.id})`,
  ].join('\n');
}

// ---------------------------------------------------------------- done / release

export async function done(rawId: string, o: { notes?: string; leaseToken?: string }, ctx: Ctx): Promise<{ revision: number; task: TaskJson }> {
  const id = checkId(rawId, 'task id');
  const notes = o.notes === undefined ? null : checkNote(o.notes);
  const dir = boardDir(ctx);
  const r = await mutateAs(ctx, (tx, me) => {
    const task = getTask(tx.state, id);
    if (task.status === 'in_review') throw new BatonError('INVALID_TRANSITION', `Task ${id} is in review; the reviewer finishes it (baton review approve ${id}).`, { hint: `baton show ${id}`, details: { task: id, from: task.status, to: 'done' } });
    leaseConflict(dir, tx.state, task, me, o.leaseToken, Date.parse(tx.now));
    if (notes) task.notes.push({ at: tx.now, author: me.agentId, text: notes });
    task.lease = null;
    if (reviewRequired(task, tx.config)) {
      const targets = task.specialty ? [`reviewers:${task.specialty}`] : ['reviewers'];
      moveTask(tx, task, 'review', { type: 'task.submitted', data: { notes }, notify: { targets, kind: 'review-ready', priority: 'normal' } });
    } else {
      moveTask(tx, task, 'done', { type: 'task.done', data: { notes } });
      onFinished(tx, task);
    }
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

export async function release(rawId: string, o: { reason?: string; leaseToken?: string }, ctx: Ctx): Promise<{ revision: number; task: TaskJson }> {
  const id = checkId(rawId, 'task id');
  const dir = boardDir(ctx);
  const r = await mutateAs(ctx, (tx, me) => {
    const task = getTask(tx.state, id);
    leaseConflict(dir, tx.state, task, me, o.leaseToken, Date.parse(tx.now));
    dropLease(tx, task, 'task.released', { reason: o.reason ?? null });
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

// ---------------------------------------------------------------- next

export type Action = 'continue' | 'address-review' | 'take-handoff' | 'review' | 'claim' | 'wait' | 'idle';

export interface Explain {
  candidates: { task: string; title: string; score: number; terms: Candidate['terms'] }[];
  skipped: Skipped[];
}

export interface NextResult {
  revision: number;
  action: Action;
  task: TaskJson | null;
  command: string | null;
  reason: string;
  explain: Explain | null;
}

function explainOf(ranked: Candidate[], skipped: Skipped[]): Explain {
  return {
    candidates: ranked.slice(0, 5).map((c) => ({ task: c.task.id, title: c.task.title, score: c.score, terms: c.terms })),
    skipped: skipped.slice(0, 20),
  };
}

/** Review candidates for a reviewer: in `review`, fitting its specialty, not its own work. */
export function reviewQueue(state: State, agent: Agent, allowSelf: boolean): Task[] {
  return Object.values(state.tasks)
    .filter((t) => t.status === 'review' && specialtyFits(t, agent) && (allowSelf || t.assignee !== agent.id))
    .sort((a, b) => a.priority - b.priority || cmp(a.updated_at, b.updated_at) || cmp(a.id, b.id));
}

/** The single best action for the calling session (SPEC `next`), from a state read without a lock. */
export function decideNext(state: State, config: import('../core/types.js').Config, me: Me, nowMs: number, wantExplain: boolean): Omit<NextResult, 'revision'> {
  const agent = state.agents[me.agentId]!;
  const act = (action: Action, task: Task | null, command: string | null, reason: string, explain: Explain | null = null) => ({
    action,
    task: task ? toTaskJson(task) : null,
    command,
    reason,
    explain,
  });
  const held = Object.values(state.tasks)
    .filter((t) => t.lease?.session === me.session.id && Date.parse(t.lease.expires_at) > nowMs)
    .sort((a, b) => cmp(a.lease!.expires_at, b.lease!.expires_at) || cmp(a.id, b.id));
  const first = held[0];
  if (first) {
    const left = Math.round((Date.parse(first.lease!.expires_at) - nowMs) / 1000);
    const command = first.status === 'in_review' ? `baton review approve ${first.id} --json` : `baton done ${first.id} --json`;
    return act('continue', first, command, `You hold ${first.id} (lease ends in ${left}s, at ${first.lease!.expires_at}); keep it with baton heartbeat --task ${first.id}, finish with ${command.replace(' --json', '')}.`);
  }
  const sentBack = Object.values(state.tasks)
    .filter((t) => t.status === 'changes_requested' && t.assignee === agent.id)
    .sort((a, b) => a.priority - b.priority || cmp(a.updated_at, b.updated_at))[0];
  if (sentBack) return act('address-review', sentBack, `baton claim ${sentBack.id} --json`, `A reviewer sent ${sentBack.id} back to you: see its notes (baton show ${sentBack.id}).`);
  const handed = handoffsFor(state, agent)[0];
  if (handed && state.tasks[handed.task]) {
    return act('take-handoff', state.tasks[handed.task]!, `baton handoff take ${handed.task} --json`, `${handed.from} handed ${handed.task} to ${handed.to}: read project-plan/handoffs/${handed.task}.handoff.md.`);
  }
  if (agent.role === 'reviewer') {
    const queue = reviewQueue(state, agent, config.review.allow_self_review);
    if (queue[0]) return act('review', queue[0], `baton review start ${queue[0].id} --json`, `${queue.length} task(s) wait for review; ${queue[0].id} first.`);
  }
  const unfinished = Object.values(state.tasks).filter((t) => !isFinished(t.status));
  if (agent.role === 'worker') {
    const limits = PROFILE_LIMITS[config.profile];
    const { ranked, skipped } = rankTasks(state, config, { agent, now: nowMs, pathsRefuse: limits.pathsRefuse });
    const explain = wantExplain ? explainOf(ranked, skipped) : null;
    const mine = inFlightOf(state, agent.id);
    if (ranked[0] && mine.length < limits.inFlight) {
      const c = ranked[0];
      return act('claim', c.task, `baton claim ${c.task.id} --json`, `${c.task.id} ranks first of ${ranked.length} ready (score ${c.score}).`, explain);
    }
    if (ranked[0]) return act('wait', null, null, `You have ${mine.length} task(s) in progress, the ${config.profile} limit; finish one first.`, explain);
    if (unfinished.length) return act('wait', null, 'baton next --watch 60 --json', `${unfinished.length} unfinished task(s), none ready for you: blocked, held, waiting on dependencies or review, or another specialty.`, explain);
    return act('idle', null, null, 'The board is finished: nothing left to do.', explain);
  }
  if (unfinished.length) return act('wait', null, 'baton next --watch 60 --json', `${unfinished.length} unfinished task(s), nothing for a ${agent.role} to do now.`);
  return act('idle', null, null, 'The board is finished: nothing left to do.');
}

export async function next(o: { watch?: string; explain?: boolean }, ctx: Ctx): Promise<NextResult> {
  const dir = boardDir(ctx);
  return untilAnswer(
    dir,
    parseWatch(o.watch),
    async () => {
      const { state, config } = await load(ctx);
      const { session, agent } = authenticate(state, ctx.creds);
      return { revision: state.revision, ...decideNext(state, config, { session, agentId: agent.id }, Date.now(), Boolean(o.explain)) };
    },
    (r) => r.action !== 'wait',
  );
}

export function renderNext(r: NextResult): string {
  const out = [`${r.action}${r.task ? ` ${r.task.id}: ${r.task.title.replace(/\s+/g, ' ').slice(0, 70)}` : ''}`, r.reason];
  if (r.command) out.push(`next: ${r.command.replace(' --json', '')}`);
  if (r.explain) {
    out.push('', 'candidates:');
    for (const c of r.explain.candidates) {
      out.push(`  ${c.task.padEnd(14)} ${String(c.score).padStart(8)} = priority ${c.terms.priority} + critical path ${c.terms.critical_path} + downstream ${c.terms.downstream} + age ${c.terms.age}`);
    }
    if (r.explain.skipped.length) {
      out.push('skipped:');
      for (const s of r.explain.skipped) out.push(`  ${s.task.padEnd(14)} ${s.reason}`);
    }
  }
  return out.join('\n');
}
