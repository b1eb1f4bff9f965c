import { historyOf } from '../store/eventlog.js';
import { dirname } from 'node:path';
import { dropLease, sweepExpiredLeases } from '../rules/leases.js';
import { authenticate } from '../rules/sessions.js';
import { callerOf, holderOf, intervention } from '../rules/intervene.js';
import { type Claim, claimBest, claimTask, type Explain, finishClaim, releaseClaim } from '../rules/claims.js';
import { BatonError, invalidInput, notFound } from '../rules/errors.js';
import { firstChars, readResult, type ResultRecord, storeResult } from '../store/resultfiles.js';
import { findArchived } from '../store/archivefiles.js';
import { checkId } from '../rules/ids.js';
import { routeOf } from '../clients/launch.js';
import { asShell, shellBaton } from '../rules/shellword.js';
import { type Action, type Advice, decideNext } from '../rules/next.js';
import type { BoardRepo } from '../store/gitrun.js';
import type { SyncResult } from '../git/sync.js';
import { checkNote, checkSpecialty, getTask, type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import { type Take, takeHandoff } from '../rules/handover.js';
import { untilAnswer, untilWork } from '../store/waiting.js';
import { actAsCaller, boardDir, type Ctx, load, loadHot, mutate, mutateAs, personOf, readFileArg, signOfLife } from './context.js';

export type { Action, Explain };

export interface ClaimResult extends Claim {
  revision: number;
}

/**
 * claim --sync and claim-next --sync: the board's repository, checked before anything is
 * claimed, so a repository that can't sync at all (not in git, no commit yet, no remote)
 * refuses with nothing written.
 */
async function syncWhere(sync: boolean | undefined, ctx: Ctx): Promise<BoardRepo | null> {
  if (!sync) return null;
  const [{ boardRepo }, { syncTarget }] = await Promise.all([import('../store/gitrun.js'), import('../git/sync.js')]);
  const where = boardRepo(boardDir(ctx), ctx);
  syncTarget(where, {});
  return where;
}

/**
 * The claim counts only once its push lands. A claim that never reached the remote must not
 * linger here: a later sync would meet whoever took the task meanwhile as a true conflict, so
 * it is released (LEASE_CONFLICT already reset it).
 */
async function syncClaim<R extends ClaimResult>(r: R, where: BoardRepo | null, ctx: Ctx): Promise<R & { synced?: SyncResult }> {
  if (!where) return r;
  try {
    const { syncBoard } = await import('../git/sync.js');
    const s = await syncBoard(where, {}, ctx.lockTimeoutMs, ctx.env, { task: r.task.id, agent: r.task.assignee ?? '' });
    return { ...r, revision: s.revision, synced: s };
  } catch (e) {
    if (e instanceof BatonError && e.code !== 'LEASE_CONFLICT') {
      await release(r.task.id, { reason: `claim --sync could not push: ${e.code}` }, ctx).catch(() => undefined);
      e.details.released = r.task.id;
    }
    throw e;
  }
}

export async function claim(rawId: string, o: { sync?: boolean }, ctx: Ctx): Promise<ClaimResult & { synced?: SyncResult }> {
  const id = checkId(rawId, 'task id');
  const where = await syncWhere(o.sync, ctx);
  const r = await mutateAs(ctx, (tx, me): Claim & { handoff?: Take['handoff'] } => {
    sweepExpiredLeases(tx);
    const task = getTask(tx.state, id);
    if (task.status !== 'handoff') return claimTask(tx, me, task);
    // A task handed off to you is claimed by taking the handoff (so next's one `claim` always works).
    const t = takeHandoff(tx, me, id);
    return { task: t.task, lease_token: t.lease_token, lease: t.lease, warnings: [], handoff: t.handoff };
  });
  return syncClaim({ revision: r.revision, ...r.value }, where, ctx);
}

export interface ClaimNextOptions {
  specialty?: string;
  watch?: number;
  explain?: boolean;
}

type ClaimNextResult = ClaimResult & { explain: Explain | null };

export async function claimNext(o: ClaimNextOptions & { sync?: boolean }, ctx: Ctx): Promise<ClaimNextResult & { synced?: SyncResult }> {
  const specialty = o.specialty === undefined ? null : checkSpecialty(o.specialty);
  const dir = boardDir(ctx);
  const where = await syncWhere(o.sync, ctx);
  const claimed = await untilWork(dir, o.watch ?? null, ctx.stop, async () => {
    // The ranking lists every task: read while waiting for the lock, as without the board index.
    const r = await mutateAs(
      ctx,
      (tx, me) => {
        sweepExpiredLeases(tx);
        return claimBest(tx, me, specialty, Boolean(o.explain));
      },
      { readsAll: true },
    );
    return { revision: r.revision, ...r.value };
  });
  return syncClaim(claimed, where, ctx);
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

export async function done(rawId: string, o: { notes?: string; result?: string; resultText?: string; leaseToken?: string }, ctx: Ctx): Promise<{ revision: number; task: TaskJson }> {
  const id = checkId(rawId, 'task id');
  const notes = o.notes === undefined ? null : checkNote(o.notes);
  const dir = boardDir(ctx);
  if (o.result !== undefined && o.resultText !== undefined) throw invalidInput('Give the result once: --result FILE|- or --result-text TEXT.');
  const text = o.result !== undefined ? readFileArg(o.result, ctx, "the result's").text : o.resultText;
  const r = await mutateAs(ctx, (tx, me) => {
    const task = getTask(tx.state, id);
    finishClaim(tx, historyOf(dir, tx.state), me, task, notes, o.leaseToken);
    // Stored once the claim is known good, under the lock `baton gc` takes too: a refused done
    // writes no file, and gc never removes one a done is about to name.
    if (text !== undefined) {
      task.result = storeResult(dir, text);
      tx.touch(task);
    }
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

export async function release(rawId: string, o: { reason?: string; leaseToken?: string; force?: boolean }, ctx: Ctx): Promise<{ revision: number; task: TaskJson }> {
  const id = checkId(rawId, 'task id');
  const dir = boardDir(ctx);
  const r = await mutate(ctx, (tx) => {
    const task = getTask(tx.state, id);
    const caller = callerOf(tx.state, ctx.creds, personOf(ctx));
    const holder = holderOf(tx.state, task, Date.parse(tx.now));
    // A session releasing without --force: its own work, or leaseConflict says whose it is now (an
    // earlier session of its agent: join --resume; a lapsed lease: what became of it). An
    // orchestrator releasing another agent's work intervenes without --force.
    const intervenes = caller.orchestrator && holder !== null && holder.agent !== caller.agent;
    if (!o.force && (caller.session ? !intervenes : !holder)) {
      const me = actAsCaller(tx, ctx);
      releaseClaim(tx, historyOf(dir, tx.state), me, task, o.reason ?? null, o.leaseToken);
      signOfLife(tx, me);
      return toTaskJson(task);
    }
    if (caller.session) tx.actAs(caller.agent!, caller.session);
    if (task.status === 'blocked') {
      throw new BatonError('INVALID_TRANSITION', `Task ${task.id} is blocked: nobody holds it; unblocking puts it back in the queue.`, { hint: `baton unblock ${task.id}`, details: { task: task.id, status: task.status } });
    }
    const iv = intervention(tx.state, task, caller, Boolean(o.force), 'release', o.reason ?? null, Date.parse(tx.now));
    if (!iv) {
      if (caller.session && task.lease?.session === caller.session) {
        releaseClaim(tx, historyOf(dir, tx.state), { session: tx.state.sessions[caller.session]!, agentId: caller.agent! }, task, o.reason ?? null, o.leaseToken);
        return toTaskJson(task);
      }
      // A lease that lapsed (or whose session ended) and nobody took back yet: --force takes it back now.
      if (task.lease && (task.status === 'in_progress' || task.status === 'in_review')) {
        dropLease(tx, task, 'task.released', { reason: o.reason ?? null, forced: true, lapsed: true });
        return toTaskJson(task);
      }
      throw new BatonError('INVALID_TRANSITION', `Nobody holds ${task.id} (it is ${task.status}): there is nothing to release.`, { hint: `baton show ${task.id}`, details: { task: task.id, status: task.status } });
    }
    dropLease(tx, task, 'task.released', { reason: o.reason ?? null, ...iv.data }, iv.holder.agent);
    return toTaskJson(task);
  });
  return { revision: r.revision, task: r.value };
}

// ---------------------------------------------------------------- next

export interface NextResult extends Advice {
  revision: number;
}

export async function next(o: { watch?: number; explain?: boolean }, ctx: Ctx): Promise<NextResult> {
  const dir = boardDir(ctx);
  return untilAnswer(
    dir,
    o.watch ?? null,
    ctx.stop,
    async () => {
      // --explain lists why every waiting task waits: only state.json knows.
      const { state, config } = o.explain ? await load(ctx) : await loadHot(ctx);
      const { session, agent } = authenticate(state, ctx.creds);
      const advice = decideNext(state, config, { session, agentId: agent.id }, Date.now(), Boolean(o.explain));
      // The command as the agent's shell runs it (`npx baton-board …` where the project has baton as a dependency).
      return { revision: state.revision, ...advice, command: advice.command && asShell(advice.command, shellBaton(routeOf(dirname(dir)))) };
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

// ---------------------------------------------------------------- result

export interface ResultAnswer extends ResultRecord {
  revision: number;
  task: string;
  /** The result's text (cut to --max-chars when given). */
  text: string;
  truncated: boolean;
}

/** A task's result (`done --result`), by task id or by the spawned session that worked on it. */
export async function result(ref: string, o: { maxChars?: number }, ctx: Ctx): Promise<ResultAnswer> {
  const id = checkId(ref, 'task or session id');
  const { dir, state } = await load(ctx);
  const session = state.sessions[id];
  const taskId = session ? session.spawn?.task ?? null : id;
  if (session && !taskId) throw new BatonError('NOT_FOUND', `Session ${id} worked on no task, so it has no result.`, { hint: 'baton ps', details: { kind: 'result', id } });
  const task = state.tasks[taskId!] ?? findArchived(dir, taskId!)?.task;
  if (!task) throw notFound('task or session', id, 'baton ps');
  if (!task.result) {
    throw new BatonError('NOT_FOUND', `Task ${task.id} has no result${task.status === 'done' ? '' : ` (it is ${task.status})`}: an agent gives one with baton done ${task.id} --result FILE.`, { hint: `baton show ${task.id}`, details: { kind: 'result', id: task.id } });
  }
  const text = readResult(dir, task.result.ref);
  const shown = o.maxChars === undefined ? { text, cut: false } : firstChars(text, o.maxChars);
  return { revision: state.revision, task: task.id, ...task.result, text: shown.text, truncated: shown.cut };
}

export const renderResult = (r: ResultAnswer): string => `${r.text}${r.truncated ? `\n… (${r.size} bytes in all; baton result ${r.task} shows it whole)` : ''}`;

export const renderDone = (r: { task: TaskJson }) => (r.task.status === 'review' ? `${r.task.id} is done and waits for review.` : `${r.task.id} is done.`);

export const renderRelease = (r: { task: TaskJson }) => `${r.task.id} is back in the queue (${r.task.status}).`;
