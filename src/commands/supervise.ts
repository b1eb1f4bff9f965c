import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { endSession } from '../rules/sessions.js';
import { notFound } from '../rules/errors.js';
import { readState } from '../store/store.js';
import type { Session, State } from '../rules/types.js';
import { boardDir, type Ctx, mutate } from './context.js';
import { removeWorktree, rollBack } from './children.js';

/** The supervisor of a spawned child (`baton __supervise`, run detached by spawn.ts). */

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
  const child = process.getBuiltinModule('node:child_process').spawn(cmd!, args, {
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

