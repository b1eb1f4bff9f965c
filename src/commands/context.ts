import { type Me } from '../rules/change.js';
import { authenticate, type Credentials } from '../rules/sessions.js';
import { locateBoard } from '../store/boarddir.js';
import type { Config, State } from '../rules/types.js';
import { findArchived } from '../store/archivefiles.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { readConfig, readState, stateReadsCached } from '../store/store.js';
import { readHotState } from '../store/hotindex.js';
import type { Timing, Tx, TxOptions, TxResult } from '../store/tx.js';

/** What every command gets from the wiring besides its own options. */
export interface Ctx {
  cwd: string;
  env: Record<string, string | undefined>;
  /** --dir */
  dir?: string | undefined;
  lockTimeoutMs: number;
  expectedRevision?: number | undefined;
  /** The installed package's root (templates/ lives there). */
  packageRoot: string;
  /** The baton script, to run baton again (spawned children, git's merge driver). */
  bin: string;
  /** --session / BATON_SESSION and --token / BATON_TOKEN. */
  creds: Credentials;
  /** --idempotency-key, and the command's name (a key's record names the command it belongs to). */
  idempotencyKey?: string | undefined;
  command?: string | undefined;
  /** A hash of the command's arguments: a key replays only the same call by the same session. */
  call?: string | undefined;
  /** How many transactions this command ran (the second and later get key#n). */
  mutations?: number;
  /** Set when a keyed transaction was found already committed and its first answer returned. */
  replayed?: boolean;
  /** What went wrong after a commit point (the change stands): printed as warnings. */
  warnings: string[];
  /** Settles when the caller gives up (a cancelled MCP request): a wait for work or an answer ends. */
  stop?: Promise<unknown> | undefined;
  /** False where the process's stdin is not the command's (the MCP server's carries the protocol). */
  stdin?: boolean;
  /** Set by the wiring under BATON_TIMINGS=1 (the bench reads lock waits from it). */
  onTiming?: ((t: Timing) => void) | undefined;
}

/** One item of a streaming command: as human text, and as a JSON line (none: not shown with --json). */
export interface StreamItem {
  text: string;
  json?: unknown;
}

/** What the front end gives a command besides its input (streams, terminals). */
export interface RunIO {
  /** A streaming command's items (an event of --follow, a frame of watch, a line of demo). */
  emit(item: StreamItem): void;
  /** Resolves when the person or the process asks to stop (q, Ctrl-C, SIGTERM). */
  quit: Promise<void>;
  /** Output goes to a terminal (watch redraws in place there). */
  tty: boolean;
  width(): number;
  /** How many lines a frame may take (a terminal's rows; unbounded when output scrolls). */
  height(): number;
}

export interface Loaded {
  dir: string;
  state: State;
  config: Config;
}

export const boardDir = (ctx: Ctx): string => locateBoard({ cwd: ctx.cwd, dir: ctx.dir, env: ctx.env });

/** A lock-free read of the board. */
export async function load(ctx: Ctx): Promise<Loaded> {
  const dir = boardDir(ctx);
  const [state, config] = await Promise.all([readState(dir), readConfig(dir)]);
  return { dir, state, config };
}

/** A FILE argument's text, or stdin's for `-` (`import`, `done --result`); `what` names it in errors. */
export function readFileArg(file: string, ctx: Ctx, what: string): { text: string; name: string } {
  if (file === '-') {
    if (ctx.stdin === false) throw invalidInput(`'-' (stdin) can't be read here: give ${what} file path.`);
    return { text: readFileSync(0, 'utf8'), name: 'stdin' };
  }
  const path = resolve(ctx.cwd, file);
  try {
    return { text: readFileSync(path, 'utf8'), name: file };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BatonError(code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_INPUT', `Can't read ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}.`, {
      details: { kind: 'file', id: file },
    });
  }
}

/**
 * The board for the hot reads (`next`, `status`, `list --ready`): from the read index when it
 * names the current state.json (a state holding only the tasks those reads look at; hotindex.ts),
 * else state.json whole. Only for reads that look at nothing else.
 */
export async function loadHot(ctx: Ctx): Promise<Loaded> {
  const dir = boardDir(ctx);
  // BATON_NO_INDEX=1 reads state.json whole (the tests compare both answers). The MCP server keeps
  // the parsed state and its board view between calls, which is cheaper than parsing the index.
  const hot = ctx.env.BATON_NO_INDEX === '1' || stateReadsCached() ? null : readHotState(dir);
  if (!hot) return load(ctx);
  return { dir, state: hot, config: await readConfig(dir) };
}

export async function mutate<R>(ctx: Ctx, apply: (tx: Tx) => R, more: Pick<TxOptions, 'actor' | 'session' | 'afterCommit' | 'readsAll'> = {}): Promise<TxResult<R>> {
  // Loaded on demand: the lock and write machinery costs start-up that reads never need.
  const { transact } = await import('../store/tx.js');
  const n = ctx.mutations ?? 0;
  ctx.mutations = n + 1;
  const idempotency = ctx.idempotencyKey
    ? { key: n === 0 ? ctx.idempotencyKey : `${ctx.idempotencyKey}#${n}`, command: ctx.command ?? '', call: ctx.call ?? '', session: ctx.creds.session ?? null }
    : undefined;
  const dir = boardDir(ctx);
  let result: TxResult<R>;
  try {
    result = await transact(dir, { lockTimeoutMs: ctx.lockTimeoutMs, expectedRevision: ctx.expectedRevision, onTiming: ctx.onTiming, idempotency, ...more }, apply);
  } catch (e) {
    throw archivedInstead(dir, e);
  }
  ctx.warnings.push(...result.warnings);
  if (result.replayed) ctx.replayed = true;
  return result;
}

/** Inside a transaction: the calling session, authenticated, whose agent the events are by. */
export function actAsCaller(tx: Tx, ctx: Ctx): Me {
  const { session, agent } = authenticate(tx.state, ctx.creds);
  tx.actAs(agent.id, session.id);
  return { session, agentId: agent.id };
}

/** Every authenticated write counts as a sign of life for the session (after its change: a reap sees the session as it was). */
export function signOfLife(tx: Tx, me: Me): void {
  me.session.heartbeat_at = tx.now;
  tx.state.agents[me.agentId]!.last_seen_at = tx.now;
}

/** A mutation on behalf of the calling session: authenticated inside the transaction. */
export async function mutateAs<R>(ctx: Ctx, apply: (tx: Tx, me: Me) => R, more: Pick<TxOptions, 'readsAll'> = {}) {
  return mutate(
    ctx,
    (tx) => {
      const me = actAsCaller(tx, ctx);
      const value = apply(tx, me);
      signOfLife(tx, me);
      return value;
    },
    more,
  );
}

/**
 * A task a command could not find on the board may be archived: then the answer says so (an
 * archived task is finished and read-only, as a done task's status is), rather than "no task".
 */
function archivedInstead(dir: string, e: unknown): unknown {
  if (!(e instanceof BatonError) || e.code !== 'NOT_FOUND' || e.details?.kind !== 'task' || typeof e.details.id !== 'string') return e;
  const found = findArchived(dir, e.details.id);
  if (!found) return e;
  const id = found.id;
  return new BatonError('TASK_ARCHIVED', `Task ${id} is archived (${found.task.status}, archived ${found.archived_at}); an archived task can't change.`, {
    hint: `baton show ${id}`,
    details: { task: id, archived: true, status: found.task.status },
  });
}

/** Who runs a command with no session: the OS user and host (interventions record it). */
export function personOf(ctx: Ctx): { user: string; host: string } {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = ctx.env.USER ?? ctx.env.USERNAME ?? 'unknown';
  }
  return { user, host: hostname() };
}
