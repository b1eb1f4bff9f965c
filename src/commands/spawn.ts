import { CLIENT_VARIABLES } from '../clients/bindings.js';
import { bounded } from '../rules/json.js';
import { git, repoRoot } from '../store/git.js';
import { spawn as spawnProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { authenticate, endSession, findOrMakeAgent, hashToken, mintSessionId, newToken, PROFILE_LIMITS, sweepExpiredLeases } from '../rules/agents.js';
import { BatonError, invalidInput, notFound } from '../rules/errors.js';
import { claimTask } from '../rules/claims.js';
import { pidAlive } from '../store/lock.js';
import { checkPromptRole, renderRolePrompt } from '../clients/prompts.js';
import { checkId, randomSuffix } from '../rules/ids.js';
import { rankTasks } from '../rules/rank.js';
import { readConfig, readState } from '../store/store.js';
import { checkSpecialty, getTask, splitList, type TaskJson, toTaskJson } from '../rules/tasks.js';
import type { Tx } from '../store/tx.js';
import type { Role, Session, State, Task } from '../rules/types.js';
import { waitUntil } from '../store/watch.js';
import { boardDir, type Ctx, mutate } from './context.js';

type SpawnInfo = NonNullable<Session['spawn']>;
const LIVE = new Set(['starting', 'running']);

export interface SpawnOptions {
  next?: boolean;
  agent?: string;
  worktree?: boolean;
  role?: string;
  /** Specialties of the child agent (comma-separated). */
  specialty?: string;
  /** The child agent's name (default: <agent>-<random>). */
  name?: string;
  /** Another directory (another repository) to run the agent in, still on this board. */
  cwd?: string;
  /** Seconds after which the child is stopped (default spawn.timeout_seconds; 0 never). */
  timeout?: number;
}

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

function removeWorktree(repo: string | null, info: Pick<SpawnInfo, 'worktree' | 'branch'>): void {
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

export interface SpawnResult {
  revision: number;
  child: ChildJson;
  task: TaskJson | null;
  /** True when a live child already worked on this task: spawning is idempotent per task. */
  reused: boolean;
}

/**
 * Starts a sub-agent: reserve (limits, idempotency) and claim for a new child session in one
 * transaction → worktree → prompt file → a detached supervisor that starts the configured
 * command (an argv array, no shell) and records its fate. Any failing step undoes the earlier
 * ones: no orphan session, claim or worktree is left, and the task is todo again.
 */
export async function spawn(rawId: string | undefined, o: SpawnOptions, ctx: Ctx): Promise<SpawnResult> {
  if (ctx.idempotencyKey) {
    // A replay would return the first answer but start a second process: spawn is not keyed.
    throw new BatonError('USAGE', 'spawn takes no --idempotency-key: it starts a process, which a replay cannot undo.', { hint: 'after a lost answer, `baton ps` shows whether the child started' });
  }
  const dir = boardDir(ctx);
  const id = rawId === undefined ? null : checkId(rawId, 'task id');
  const role = (o.role ?? 'worker').toLowerCase() as Role;
  if (!['worker', 'reviewer'].includes(role)) throw invalidInput('--role must be worker or reviewer.');
  if (id && o.next) throw invalidInput('Give a task id or --next, not both.');
  let cwd: string | null = null;
  if (o.cwd !== undefined) {
    cwd = resolve(ctx.cwd, o.cwd);
    if (!existsSync(cwd) || !statSync(cwd).isDirectory()) throw invalidInput(`--cwd ${o.cwd}: no such directory.`, undefined, { field: 'cwd' });
    if (o.worktree) throw invalidInput('--cwd and --worktree both say where the agent runs: give one.');
  }
  const token = newToken();
  const repo = repoRoot(dirname(dir));
  const envDepth = Number(ctx.env.BATON_DEPTH ?? 0) || 0;

  const reserved = await mutate(ctx, (tx) => {
    const { session: parent, agent: parentAgent } = authenticate(tx.state, ctx.creds);
    tx.actAs(parentAgent.id, parent.id);
    const cfg = tx.config.spawn;
    const agentName = o.agent ?? cfg.default_agent ?? Object.keys(cfg.agents)[0];
    // An agent of spawn.agents, else a preset of that name (spawn.presets).
    const spec = agentName ? (cfg.agents[agentName] ?? cfg.presets[agentName]) : undefined;
    if (!agentName || !spec) {
      const known = [...new Set([...Object.keys(cfg.agents), ...Object.keys(cfg.presets)])];
      throw invalidInput(
        agentName ? `No agent '${agentName}' in config.yaml spawn.agents or spawn.presets (${known.join(', ') || 'none configured'}).` : 'No agent is configured: name a preset with --agent (claude, codex, …) or add one under spawn.agents in config.yaml.',
        'baton spawn --agent claude, or add the agent under spawn.agents in project-plan/config.yaml',
      );
    }
    const depth = Math.max(parent.depth, envDepth) + 1;
    if (depth > cfg.max_depth) {
      throw new BatonError('INVALID_TRANSITION', `A child here would be ${depth} levels deep; spawn.max_depth is ${cfg.max_depth}.`, { hint: 'raise spawn.max_depth in config.yaml', details: { depth, max_depth: cfg.max_depth } });
    }
    sweepExpiredLeases(tx);
    const live = Object.values(tx.state.sessions).filter((s) => s.spawn && LIVE.has(s.spawn.state) && !s.ended_at);
    if (id) {
      const existing = live.find((s) => s.spawn!.task === id);
      if (existing) return { reused: true, child: existing, task: tx.state.tasks[id] ?? null, useWorktree: false, worktreeRoot: null, timeout: 0 };
    }
    if (live.length >= cfg.max_parallel) {
      throw new BatonError('INVALID_TRANSITION', `${live.length} children are running; spawn.max_parallel is ${cfg.max_parallel}.`, { hint: 'baton ps, then baton wait SESSION', details: { running: live.map((s) => s.id), max_parallel: cfg.max_parallel } });
    }
    const { agent } = findOrMakeAgent(tx.state, o.name ?? `${agentName}-${randomSuffix(4)}`, parent.host, tx.now);
    agent.role = role;
    if (o.specialty !== undefined) agent.specialties = splitList(o.specialty).map((x) => checkSpecialty(x)!);
    tx.state.agents[agent.id] = agent;
    const sessionId = mintSessionId(tx.state);
    const runs = join(dir, 'runs');
    const child: Session = {
      agent: agent.id,
      depth,
      end_reason: null,
      ended_at: null,
      heartbeat_at: tx.now,
      host: parent.host,
      id: sessionId,
      parent: parent.id,
      role,
      started_at: tx.now,
      token_hash: hashToken(token),
      window: null,
      spawn: {
        agent: agentName,
        branch: null,
        command: spec.command,
        cwd: cwd ?? repo ?? dirname(dir),
        error: null,
        exit_code: null,
        exited_at: null,
        log: join(runs, `${sessionId}.log`),
        pid: null,
        prompt_file: join(runs, `${sessionId}.prompt.md`),
        signal: null,
        state: 'starting',
        supervisor_pid: null,
        task: null,
        worktree: null,
      },
    };
    tx.state.sessions[sessionId] = child;
    let taskId: string | null = id;
    if (!taskId && o.next && role === 'worker') {
      const best = rankTasks(tx.state, tx.config, { agent, now: Date.parse(tx.now), pathsRefuse: PROFILE_LIMITS[tx.config.profile].pathsRefuse }).ranked[0];
      if (!best) throw new BatonError('NO_WORK', 'Nothing ready to spawn a worker for.', { hint: 'baton status' });
      taskId = best.task.id;
    }
    if (taskId) {
      claimTask(tx, { session: child, agentId: agent.id }, getTask(tx.state, taskId));
      child.spawn!.task = taskId;
    }
    const timeout = o.timeout ?? cfg.timeout_seconds;
    tx.emit({ type: 'spawn.started', session: sessionId, actor: parentAgent.id, task: taskId, data: { child: sessionId, agent: agent.id, command: spec.command, depth, cwd: child.spawn!.cwd, timeout_seconds: timeout || null } });
    return { reused: false, child, task: taskId ? tx.state.tasks[taskId]! : null, useWorktree: cwd ? false : (o.worktree ?? cfg.worktree), worktreeRoot: cfg.worktree_root, timeout };
  });
  const { child } = reserved.value;
  if (reserved.value.reused) return { revision: reserved.revision, child: toChildJson(child), task: reserved.value.task ? toTaskJson(reserved.value.task) : null, reused: true };

  const fail = async (error: string, info: Pick<SpawnInfo, 'worktree' | 'branch'>) => {
    removeWorktree(repo, info);
    rmSync(child.spawn!.prompt_file!, { force: true });
    await mutate(ctx, (tx) => rollBack(tx, tx.state.sessions[child.id]!, error));
    throw new BatonError('INVALID_INPUT', `Spawn failed, nothing was left behind: ${error}`, { hint: 'check spawn in config.yaml, then retry', details: { session: child.id } });
  };

  // Worktree: a branch worker/<session> of its own, beside the repository.
  let worktree: string | null = null;
  let branch: string | null = null;
  if (reserved.value.useWorktree) {
    if (!repo) await fail('--worktree needs a git repository', { worktree: null, branch: null });
    const root = resolve(dirname(dir), reserved.value.worktreeRoot ?? join('..', `${basename(repo!)}.worktrees`));
    worktree = join(root, child.id);
    branch = `worker/${child.id}`;
    try {
      mkdirSync(root, { recursive: true });
      git(repo!, ['worktree', 'add', '-q', '-b', branch, worktree, 'HEAD']);
    } catch (e) {
      const msg = (e as { stderr?: string }).stderr?.toString().trim() || (e as Error).message;
      await fail(`git worktree add failed: ${msg.split('\n')[0]}`, { worktree: existsSync(worktree) ? worktree : null, branch });
    }
  }

  // The prompt, then the supervisor that starts the agent and outlives this command.
  try {
    mkdirSync(join(dir, 'runs'), { recursive: true });
    const [state, config] = await Promise.all([readState(dir), readConfig(dir)]);
    const p = renderRolePrompt({ dir, state, config }, ctx.packageRoot, checkPromptRole(child.role), child.spawn!.task ?? undefined);
    writeFileSync(child.spawn!.prompt_file!, p.prompt);
  } catch (e) {
    await fail(`could not write the prompt: ${(e as Error).message}`, { worktree, branch });
  }
  const supervisor = spawnProcess(process.execPath, [ctx.bin, '__supervise', child.id], {
    cwd: worktree ?? child.spawn!.cwd,
    detached: true,
    stdio: 'ignore',
    env: {
      ...ctx.env,
      // Its own agent: not the client its parent runs under (link.ts).
      ...Object.fromEntries(CLIENT_VARIABLES.map((k) => [k, undefined])),
      BATON_DIR: dir,
      BATON_AGENT: child.agent,
      BATON_SESSION: child.id,
      BATON_TOKEN: token,
      BATON_PARENT: child.parent ?? '',
      BATON_DEPTH: String(child.depth),
      BATON_SPAWN_WORKTREE: worktree ?? '',
      BATON_SPAWN_BRANCH: branch ?? '',
      BATON_SPAWN_TIMEOUT: String(reserved.value.timeout || ''),
    },
  });
  supervisor.unref();
  // Wait for the supervisor to say the agent started (or could not).
  const state = await waitUntil(dir, () => readState(dir), (st) => st.sessions[child.id]!.spawn!.state !== 'starting', { deadline: Date.now() + 20_000, pollMs: 500 });
  const s = state.sessions[child.id]!;
  if (s.spawn!.state === 'failed') {
    throw new BatonError('INVALID_INPUT', `Spawn failed, nothing was left behind: ${s.spawn!.error}`, { hint: 'check spawn.agents in config.yaml, then retry', details: { session: child.id } });
  }
  const started = s.spawn!.state !== 'starting';
  return { revision: state.revision, child: toChildJson(s), task: started && s.spawn!.task ? toTaskJson(state.tasks[s.spawn!.task]!) : null, reused: false };
}

export const renderSpawn = (r: SpawnResult) =>
  `${r.reused ? 'Already running' : 'Spawned'} ${r.child.agent} (session ${r.child.session}, pid ${r.child.pid ?? '?'})${r.child.task ? ` on ${r.child.task}` : ''}; log ${r.child.log}`;

// ---------------------------------------------------------------- the supervisor

function logTail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines - 1).join('\n').trim();
  } catch {
    return '';
  }
}

/** Substitutes {prompt_file}, {prompt}, {session}, {task} and {board} inside each argv word. */
export function commandLine(argv: string[], s: Session, dir: string): string[] {
  const promptText = s.spawn!.prompt_file && existsSync(s.spawn!.prompt_file) ? readFileSync(s.spawn!.prompt_file, 'utf8') : '';
  const fields: Record<string, string> = { prompt_file: s.spawn!.prompt_file ?? '', prompt: promptText, session: s.id, task: s.spawn!.task ?? '', board: dir };
  return argv.map((w) => w.replace(/\{(prompt_file|prompt|session|task|board)\}/g, (_m, k: string) => fields[k]!));
}

/**
 * `baton __supervise SESSION` (internal): starts the child's command, records its pid, waits,
 * and records how it ended. A child that exits without finishing its task has its lease
 * released and its parent notified with the exit code and the log's tail.
 */
export async function supervise(sessionId: string, ctx: Ctx): Promise<void> {
  const dir = boardDir(ctx);
  const state: State = await readState(dir);
  const s = state.sessions[sessionId];
  if (!s?.spawn) throw notFound('session', sessionId);
  const log = openSync(s.spawn.log, 'a');
  const [cmd, ...args] = commandLine(s.spawn.command, s, dir);
  const worktree = ctx.env.BATON_SPAWN_WORKTREE || null;
  const branch = ctx.env.BATON_SPAWN_BRANCH || null;
  const timeoutMs = Number(ctx.env.BATON_SPAWN_TIMEOUT || 0) * 1000;
  const child = spawnProcess(cmd!, args, {
    cwd: worktree ?? s.spawn.cwd,
    stdio: ['ignore', log, log],
    detached: true,
    env: { ...ctx.env, BATON_SPAWN_WORKTREE: undefined, BATON_SPAWN_BRANCH: undefined, BATON_SPAWN_TIMEOUT: undefined },
  });
  closeSync(log);
  // A child that runs too long: its whole process group is asked to stop, then made to.
  let timedOut = false;
  const stopAll = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      /* gone already */
    }
  };
  const timer = timeoutMs > 0
    ? setTimeout(() => {
        timedOut = true;
        stopAll('SIGTERM');
        setTimeout(() => stopAll('SIGKILL'), 5_000).unref();
      }, timeoutMs)
    : null;
  const outcome = await new Promise<{ started: boolean; code: number | null; signal: string | null; error: string | null }>((res) => {
    let started = false;
    child.once('spawn', () => {
      started = true;
      void mutate(ctx, (tx) => {
        const me = tx.state.sessions[sessionId]!;
        me.spawn!.state = 'running';
        me.spawn!.pid = child.pid ?? null;
        me.spawn!.supervisor_pid = process.pid;
        me.spawn!.worktree = worktree;
        me.spawn!.branch = branch;
        tx.emit({ type: 'spawn.running', actor: me.agent, session: me.id, task: me.spawn!.task, data: { pid: child.pid ?? null } });
      });
    });
    child.once('error', (e) => res({ started, code: null, signal: null, error: e.message }));
    child.once('exit', (code, signal) => res({ started: true, code, signal, error: null }));
  });
  if (timer) clearTimeout(timer);
  // Stopped by its timeout or by a signal (`baton kill`): whatever of its group outlived the
  // leader (ignoring SIGTERM) goes now. A child that exits by itself leaves its group alone.
  if (timedOut || outcome.signal) stopAll('SIGKILL');
  if (!outcome.started) {
    removeWorktree(dirname(dir), { worktree, branch });
    rmSync(s.spawn.prompt_file ?? '', { force: true });
    await mutate(ctx, (tx) => rollBack(tx, tx.state.sessions[sessionId]!, outcome.error ?? 'the command did not start'));
    return;
  }
  await mutate(ctx, (tx) => {
    const me = tx.state.sessions[sessionId]!;
    const info = me.spawn!;
    info.state = 'exited';
    info.exit_code = outcome.code;
    info.signal = outcome.signal;
    info.exited_at = tx.now;
    info.worktree = worktree;
    info.branch = branch;
    const task = info.task ? tx.state.tasks[info.task] : undefined;
    const unfinished = task && task.lease?.session === me.id;
    const parent = me.parent ? tx.state.sessions[me.parent] : undefined;
    tx.emit({
      type: 'spawn.exited',
      actor: me.agent,
      session: me.id,
      task: info.task,
      data: { exit_code: outcome.code, signal: outcome.signal, unfinished: Boolean(unfinished), timeout: timedOut, ...(timedOut ? { timeout_seconds: timeoutMs / 1000 } : {}), log_tail: unfinished || outcome.code || timedOut ? logTail(info.log) : null },
      notify: parent ? { targets: [`agent:${parent.agent}`], kind: timedOut ? 'child-timeout' : 'child-exited', priority: unfinished || outcome.code || timedOut ? 'high' : 'low' } : null,
    });
    // Its task goes back to the queue (endSession releases what the child held).
    if (!me.ended_at) endSession(tx, me, timedOut ? `stopped after its timeout of ${timeoutMs / 1000}s${unfinished ? `, ${info.task} unfinished` : ''}` : unfinished ? `exited (${outcome.signal ?? outcome.code}) without finishing ${info.task}` : 'exited');
  });
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
    ? r.children.map((c) => `${c.session.padEnd(12)} ${c.agent.padEnd(18)} ${c.state.padEnd(8)} ${c.pid ?? '-'}  ${c.task ?? '-'}${c.exit_code !== null || c.signal ? `  exit ${c.signal ?? c.exit_code}` : ''}  ${c.log}`).join('\n')
    : 'No spawned agents.';

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
  const { readArchive } = await import('../store/archive.js');
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
