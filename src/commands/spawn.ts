import { CLIENT_VARIABLES } from '../clients/bindings.js';
import { git, repoRoot } from '../store/gitrun.js';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { hashToken } from '../rules/digest.js';
import { sweepExpiredLeases } from '../rules/leases.js';
import { authenticate, findOrMakeAgent, mintSessionId, newToken, PROFILE_LIMITS } from '../rules/sessions.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { claimTask } from '../rules/claims.js';
import { checkPromptRole, renderRolePrompt } from '../clients/prompts.js';
import { checkId, randomSuffix } from '../rules/ids.js';
import { rankTasks } from '../rules/rank.js';
import { readConfig, readState } from '../store/store.js';
import { checkSpecialty, getTask, splitList, type TaskJson, toTaskJson } from '../rules/taskmodel.js';
import type { Role, Session } from '../rules/types.js';
import { waitUntil } from '../store/waiting.js';
import { boardDir, type Ctx, mutate } from './context.js';
import { type ChildJson, LIVE, removeWorktree, rollBack, type SpawnInfo, toChildJson } from './children.js';

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
      throw new BatonError('LIMIT_REACHED', `A child here would be ${depth} levels deep; spawn.max_depth is ${cfg.max_depth}.`, { hint: 'raise spawn.max_depth in config.yaml', details: { depth, max_depth: cfg.max_depth } });
    }
    sweepExpiredLeases(tx);
    const live = Object.values(tx.state.sessions).filter((s) => s.spawn && LIVE.has(s.spawn.state) && !s.ended_at);
    if (id) {
      const existing = live.find((s) => s.spawn!.task === id);
      if (existing) return { reused: true, child: existing, task: tx.state.tasks[id] ?? null, useWorktree: false, worktreeRoot: null, timeout: 0 };
    }
    if (live.length >= cfg.max_parallel) {
      throw new BatonError('LIMIT_REACHED', `${live.length} children are running; spawn.max_parallel is ${cfg.max_parallel}.`, { hint: 'baton ps, then baton wait SESSION', details: { running: live.map((s) => s.id), max_parallel: cfg.max_parallel } });
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
  const supervisor = process.getBuiltinModule('node:child_process').spawn(process.execPath, [ctx.bin, '__supervise', child.id], {
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

