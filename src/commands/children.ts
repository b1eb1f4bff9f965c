import { bounded } from '../rules/json.js';
import { git } from '../store/gitrun.js';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { endSession } from '../rules/sessions.js';
import { BatonError, notFound } from '../rules/errors.js';
import { pidAlive } from '../store/lock.js';
import { readState } from '../store/store.js';
import { type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import type { Tx } from '../store/tx.js';
import type { Role, Session, State, Task } from '../rules/types.js';
import { waitUntil } from '../store/waiting.js';
import { boardDir, type Ctx, mutate } from './context.js';

/** Spawned children (SPEC §14): how one is shown, undone and cleaned up, and ps, wait, kill and gc. */

export type SpawnInfo = NonNullable<Session['spawn']>;
export const LIVE = new Set(['starting', 'running']);

export interface ChildJson {
  session: string;
  agent: string;
  parent: string | null;
  depth: number;
  role: Role;
  task: string | null;
  state: SpawnInfo['state'];
  pid: number | null;
  alive: boolean;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  log: string;
  prompt_file: string | null;
  worktree: string | null;
  branch: string | null;
  started_at: string;
  exited_at: string | null;
}

const alive = (pid: number | null): boolean => pid !== null && pidAlive(pid);

export const toChildJson = (s: Session): ChildJson => ({
  session: s.id,
  agent: s.agent,
  parent: s.parent,
  depth: s.depth,
  role: s.role,
  task: s.spawn!.task,
  state: s.spawn!.state,
  pid: s.spawn!.pid,
  alive: s.spawn!.state === 'running' && alive(s.spawn!.pid),
  exit_code: s.spawn!.exit_code,
  signal: s.spawn!.signal,
  error: s.spawn!.error,
  log: s.spawn!.log,
  prompt_file: s.spawn!.prompt_file,
  worktree: s.spawn!.worktree,
  branch: s.spawn!.branch,
  started_at: s.started_at,
  exited_at: s.spawn!.exited_at,
});

/** Undoes a spawn that could not start: the child's session ends, its claim goes back, its worktree goes. */
export function rollBack(tx: Tx, child: Session, error: string): void {
  child.spawn!.state = 'failed';
  child.spawn!.error = error;
  child.spawn!.exited_at = tx.now;
  endSession(tx, child, `spawn failed: ${error}`);
  tx.emit({ type: 'spawn.failed', actor: child.agent, session: child.id, task: child.spawn!.task, data: { error } });
}

export function removeWorktree(repo: string | null, info: Pick<SpawnInfo, 'worktree' | 'branch'>): void {
  if (!info.worktree) return;
  try {
    if (repo) git(repo, ['worktree', 'remove', '--force', info.worktree]);
  } catch {
    /* removed below */
  }
  rmSync(info.worktree, { recursive: true, force: true });
  try {
    if (repo && info.branch) git(repo, ['branch', '-D', info.branch]);
  } catch {
    /* never created */
  }
}

// ---------------------------------------------------------------- ps / wait / kill

export interface PsResult {
  revision: number;
  /** Each child with its task's result (a reference and a summary, never the text) once it gave one. */
  children: (ChildJson & { result: Task['result'] | null })[];
  truncated: boolean;
}

export async function ps(o: { all?: boolean; limit?: number }, ctx: Ctx): Promise<PsResult> {
  const state = await readState(boardDir(ctx));
  const children = Object.values(state.sessions)
    .filter((s) => s.spawn && (o.all || LIVE.has(s.spawn.state) || !s.spawn.exited_at || Date.now() - Date.parse(s.spawn.exited_at) < 3_600_000))
    .sort((a, b) => (a.started_at < b.started_at ? -1 : a.started_at > b.started_at ? 1 : a.id < b.id ? -1 : 1))
    .map((s) => ({ ...toChildJson(s), result: (s.spawn!.task ? state.tasks[s.spawn!.task]?.result : undefined) ?? null }));
  const { items, truncated } = bounded(children, o.limit);
  return { revision: state.revision, children: items, truncated };
}

export const renderPs = (r: PsResult) =>
  r.children.length
    ? [
        psRow(['SESSION', 'AGENT', 'STATE', 'PID', 'TASK', 'EXIT', 'LOG']),
        ...r.children.map((c) => psRow([c.session, c.agent, c.state, String(c.pid ?? '-'), c.task ?? '-', c.exit_code !== null || c.signal ? String(c.signal ?? c.exit_code) : '-', c.log])),
      ].join('\n')
    : 'No spawned agents.';

const psRow = (c: string[]) => `${c[0]!.padEnd(12)} ${c[1]!.padEnd(18)} ${c[2]!.padEnd(8)} ${c[3]!.padEnd(7)} ${c[4]!.padEnd(14)} ${c[5]!.padEnd(7)} ${c[6]}`;

function findChild(state: State, ref: string): Session {
  const id = ref.toLowerCase();
  const byId = state.sessions[id];
  if (byId?.spawn) return byId;
  const byTask = Object.values(state.sessions)
    .filter((s) => s.spawn?.task === id)
    .sort((a, b) => (a.started_at < b.started_at ? 1 : -1))[0];
  if (byTask) return byTask;
  throw notFound('spawned session or task', ref, 'baton ps');
}

export async function wait(ref: string, o: { timeout?: number }, ctx: Ctx): Promise<{ revision: number; child: ChildJson; finished: boolean; task: TaskJson | null }> {
  const timeout = o.timeout ?? 3600;
  const dir = boardDir(ctx);
  const deadline = Date.now() + timeout * 1000;
  const read = async (): Promise<{ state: State; s: Session }> => {
    const state = await readState(dir);
    const s = findChild(state, ref);
    // A supervisor killed with its child can't report: their liveness is polled too.
    if (s.spawn!.state === 'running' && Date.now() < deadline && !alive(s.spawn!.pid) && !alive(s.spawn!.supervisor_pid)) {
      await mutate(ctx, (tx) => {
        const me = tx.state.sessions[s.id]!;
        if (!LIVE.has(me.spawn!.state)) return;
        me.spawn!.state = 'exited';
        me.spawn!.exited_at = tx.now;
        tx.emit({ type: 'spawn.exited', session: me.id, task: me.spawn!.task, data: { exit_code: null, signal: null, lost: true }, notify: me.parent ? { targets: [`agent:${tx.state.sessions[me.parent]?.agent}`], kind: 'child-exited', priority: 'high' } : null });
        if (!me.ended_at) endSession(tx, me, 'lost: its process and supervisor are gone');
      });
      return read();
    }
    return { state, s };
  };
  const { state, s } = await waitUntil(dir, read, (r) => !LIVE.has(r.s.spawn!.state), { deadline, pollMs: 1000, stop: ctx.stop });
  const task = s.spawn!.task ? state.tasks[s.spawn!.task] : undefined;
  return { revision: state.revision, child: toChildJson(s), finished: !LIVE.has(s.spawn!.state), task: task ? toTaskJson(task) : null };
}

export async function kill(ref: string, ctx: Ctx): Promise<{ revision: number; child: ChildJson; signalled: boolean }> {
  const state = await readState(boardDir(ctx));
  const s = findChild(state, ref);
  const pid = s.spawn!.pid;
  if (s.spawn!.state !== 'running' || !pid) {
    throw new BatonError('INVALID_TRANSITION', `Session ${s.id} is ${s.spawn!.state}, not running.`, { hint: 'baton ps', details: { session: s.id, state: s.spawn!.state } });
  }
  let signalled = false;
  try {
    process.kill(-pid, 'SIGTERM');
    signalled = true;
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
      signalled = true;
    } catch {
      signalled = false;
    }
  }
  return { revision: state.revision, child: toChildJson(s), signalled };
}

// ---------------------------------------------------------------- gc

export interface GcResult {
  revision: number;
  max_age_days: number;
  /** Files removed, relative to the board. */
  removed: string[];
  bytes: number;
  /** Results kept because a task on the board or in the archive still names them. */
  kept_results: number;
}

/**
 * `baton gc`: removes what finished children left in runs/ (their log and prompt) once they ended
 * more than `maxAgeDays` ago (default 7), and result files no task names (a `done --result` that
 * was refused) as old. Never a result a task on the board or in the archive still references,
 * and never anything of a child that is still running. Under the board lock, so a spawn or a
 * done in progress is not cut short.
 */
export async function gc(o: { maxAgeDays?: number }, ctx: Ctx): Promise<GcResult> {
  const dir = boardDir(ctx);
  const days = o.maxAgeDays ?? 7;
  const { withLock } = await import('../store/tx.js');
  const { readArchive } = await import('../store/archivefiles.js');
  return withLock(dir, ctx.lockTimeoutMs, async () => {
    const state = await readState(dir);
    const now = Date.now();
    const cutoff = now - days * 86_400_000;
    const removed: string[] = [];
    let bytes = 0;
    const remove = (rel: string) => {
      try {
        bytes += statSync(join(dir, rel)).size;
        rmSync(join(dir, rel), { force: true });
        removed.push(rel);
      } catch {
        /* gone already */
      }
    };
    // runs/: the files of children that ended long enough ago, and files no session names.
    const sessionOf = (name: string) => state.sessions[name.replace(/\.(log|prompt\.md)$/, '')];
    let runs: string[] = [];
    try {
      runs = readdirSync(join(dir, 'runs'));
    } catch {
      runs = [];
    }
    for (const name of runs) {
      const s = sessionOf(name);
      const ended = s?.spawn ? !LIVE.has(s.spawn.state) && (s.spawn.exited_at ? Date.parse(s.spawn.exited_at) : Date.parse(s.ended_at ?? s.started_at)) <= cutoff : false;
      const orphan = !s && statSync(join(dir, 'runs', name)).mtimeMs <= cutoff;
      if (ended || orphan) remove(join('runs', name));
    }
    // results/: only files no task names, and never younger than an hour (a done may be storing one now).
    const named = new Set<string>();
    for (const t of Object.values(state.tasks)) if (t.result) named.add(t.result.ref);
    for (const r of readArchive(dir).records) if (r.task.result) named.add(r.task.result.ref);
    let results: string[] = [];
    try {
      results = readdirSync(join(dir, 'results'));
    } catch {
      results = [];
    }
    let kept = 0;
    for (const name of results) {
      const rel = `results/${name}`;
      if (named.has(rel)) {
        kept++;
        continue;
      }
      if (statSync(join(dir, rel)).mtimeMs <= Math.min(cutoff, now - 3_600_000)) remove(rel);
    }
    return { revision: state.revision, max_age_days: days, removed, bytes, kept_results: kept };
  });
}

export const renderGc = (r: GcResult) =>
  `${r.removed.length ? `Removed ${r.removed.length} file(s), ${r.bytes} bytes` : 'Nothing to remove'} (older than ${r.max_age_days} day(s)); kept ${r.kept_results} result(s) tasks still name.`;

export const renderWait = (r: { child: ChildJson; finished: boolean; task: TaskJson | null }) =>
  `${r.child.session} ${r.finished ? `exited (${r.child.signal ?? r.child.exit_code})` : 'still running'}${r.task ? `; ${r.task.id} is ${r.task.status}` : ''}`;

export const renderKill = (r: { child: ChildJson }) => `Sent SIGTERM to ${r.child.session} (pid ${r.child.pid}).`;
