import type { Credentials } from '../rules/sessions.js';
import { type Binding, type ClientName, clientOfEnv, envSessionKey, linkedBinding, readBindings } from '../clients/bindings.js';
import { ancestors, clientProcess, type Proc, procKey, starter } from '../clients/procs.js';
import { readState } from '../store/store.js';
import { join } from './agents.js';
import { boardDir, type Ctx } from './context.js';

/**
 * One agent client, one baton session (SPEC §12, §15): whichever of the client's MCP server, its
 * hooks or a shell command it runs acts first joins, and binds the client (its process, and its
 * session where the client names it) to that session; the others find the binding and act as
 * it. bindings.ts keeps the bindings, procs.ts finds the client process.
 */

export const credsOf = (b: Binding): Credentials => ({ session: b.session, token: b.token });
const NO_CREDS: Credentials = { session: undefined, token: undefined };

export interface ClientJoin {
  /** The name to join under when none is given (the client's: claude, codex, gemini). */
  base: string;
  /** A name given (--name, BATON_AGENT_NAME): taken as it is. */
  name?: string | undefined;
  role?: string | undefined;
  specialty?: string | undefined;
  /** The keys that name this client: its process, its session. */
  keys: string[];
  by: NonNullable<Binding['by']>;
  /** Which session bound meanwhile to one of the keys this join gives way to (default: any). */
  yieldTo?: (there: Binding) => boolean;
}

/**
 * Joins for an agent client and binds its keys to the new session, in one transaction: when
 * another of the client's processes bound a session first (its MCP server's first call and its
 * first hook at once), that one is given instead, and no spare session is made.
 */
export async function joinForClient(ctx: Ctx, o: ClientJoin): Promise<Binding & { created: boolean }> {
  const r = await join(
    { name: o.name, role: o.role ?? 'worker', specialty: o.specialty, client: { keys: o.keys, base: o.base, by: o.by, ...(o.yieldTo ? { yieldTo: o.yieldTo } : {}) } },
    { ...ctx, creds: NO_CREDS, warnings: [] },
  );
  return { session: r.session.id, token: r.token!, agent: r.agent.id, bound_at: new Date().toISOString(), joined: true, by: o.by, created: !r.reused };
}

/**
 * The keys a process started by a client is known by: the client's process (by default the one
 * that started this process: the client, for its MCP server and hooks), and the client's session
 * where the client's own variables name it (only `client`'s: a child inherits another client's).
 */
export function clientKeys(env: Record<string, string | undefined>, client: ClientName | null, p: Proc | null = starter()): string[] {
  return [p ? procKey(p) : null, client ? envSessionKey(env, client) : null].filter((k): k is string => k !== null);
}

/**
 * The credentials a command run with none acts as: those of the client session it runs under
 * (a shell command of an agent client). When no process of the client has joined yet and the
 * command needs a session (`mayJoin`), it joins for the client itself. Null: no client, or a
 * board that can't be read (the command then says what it needs, as without a client).
 */
export async function linkedCreds(ctx: Ctx, mayJoin: boolean): Promise<Credentials | null> {
  // Only under a client, as its variables say: a person's terminal, or a script that happens to
  // run under a process some client session is bound to, acts as nobody it did not name.
  const client = clientOfEnv(ctx.env);
  if (!client) return null;
  let dir: string;
  try {
    dir = boardDir(ctx);
  } catch {
    return null;
  }
  const bindings = readBindings(dir);
  if (!Object.keys(bindings).length && !mayJoin) return null;
  const state = await readState(dir).catch(() => null);
  if (!state) return null;
  const found = linkedBinding(bindings, state, ancestors(), ctx.env);
  if (found) return credsOf(found.binding);
  if (!mayJoin) return null;
  // Bound to the client process itself (a shell command may run under python, make or a sandbox
  // helper first), and to the client's session where its variables name it.
  const keys = clientKeys(ctx.env, client, clientProcess(client) ?? starter());
  if (!keys.length) return null;
  return credsOf(await joinForClient(ctx, { base: client, name: ctx.env.BATON_AGENT_NAME, keys, by: 'shell' }));
}
