import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isatty } from 'node:tty';
import { authenticate, authenticated, type Credentials } from '../rules/sessions.js';
import { type Binding, bindingKey, bindKeys, boundAmong, isProcKey, readBindings } from '../clients/bindings.js';
import { clientKeys, credsOf, joinForClient } from './link.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { checkHookClient, clientEventName, HOOK_EVENTS, type HookClient, type HookEvent, isHookClient, planHooks, writeHooks } from '../clients/hooksconfig.js';
import { routeOf } from '../clients/launch.js';
import { asShell, PACKAGE, PROJECT_SCRIPT, shellBaton } from '../rules/shellword.js';
import { renewEvery } from '../rules/leases.js';
import { ackable, type Notification } from '../rules/notifications.js';
import { moveCursor, unread } from '../store/cursors.js';
import { inboxCursor } from '../rules/notify.js';
import { checkRole, heldBy, primeData } from './primedata.js';
import { shellQuote } from '../rules/shell.js';
import { readConfig, readState, readStateHead } from '../store/store.js';
import { readHotState } from '../store/hotindex.js';
import type { State } from '../rules/types.js';
import { renderPrimer } from '../render/primer.js';
import { boardDir, type Ctx } from './context.js';

// ---------------------------------------------------------------- hooks install

export interface HooksInstallResult {
  revision: number;
  client: HookClient;
  file: string;
  path: string;
  installed: boolean;
  changed: boolean;
  /** What the hooks run baton with. */
  command: string;
}

/** The client's variable for the project directory, where it has one. */
const PROJECT_DIR: Record<HookClient, string | null> = { claude: 'CLAUDE_PROJECT_DIR', codex: null, gemini: 'GEMINI_PROJECT_DIR' };

/**
 * How the hooks run baton (launch.ts): the project's own copy, by the client's project-directory
 * variable where it has one (hooks may run in a subdirectory) and from the project's root where
 * it has not (Codex runs hooks in the session's directory); else `baton-board` from PATH.
 * `--command` says it otherwise. Never npx: a hook runs after every tool call, and npx alone
 * costs more than baton does.
 */
function defaultCommand(root: string, client: HookClient): string {
  if (routeOf(root) === 'global') return PACKAGE;
  const v = PROJECT_DIR[client];
  return v ? `node "$${v}/${PROJECT_SCRIPT}"` : `node ${PROJECT_SCRIPT}`;
}

export async function install(rawClient: string, o: { uninstall?: boolean; command?: string }, ctx: Ctx): Promise<HooksInstallResult> {
  const client = checkHookClient(rawClient);
  const root = dirname(boardDir(ctx));
  const command = o.command?.trim() || defaultCommand(root, client);
  const plan = planHooks(root, client, command, Boolean(o.uninstall));
  writeHooks(root, plan);
  return { revision: -1, client, file: plan.file, path: join(root, plan.file), installed: !o.uninstall, changed: plan.changed, command };
}

export function renderInstall(r: HooksInstallResult): string {
  if (!r.changed) return `${r.path}: baton's hooks are ${r.installed ? 'already in' : 'not there'}; nothing changed.`;
  return r.installed ? `Added baton's hooks to ${r.path} (they run ${r.command} hook …).` : `Took baton's hooks out of ${r.path}.`;
}

// ---------------------------------------------------------------- baton hook EVENT

export interface HookResult {
  revision: number;
  event: HookEvent;
  client: HookClient;
  /** The baton session this client session is (null: none bound). */
  session: string | null;
  /** What the hook answers the client on stdout (null: nothing, which every client reads as "go on"). */
  output: Record<string, unknown> | null;
}

/** The fields of the clients' hook input baton reads (all three send these names). */
interface HookInput {
  session_id?: string;
  source?: string;
  stop_hook_active?: boolean;
  reason?: string;
}

function readInput(ctx: Ctx): HookInput {
  // stdin is the client's JSON; run by hand on a terminal there is none (and no wait for it).
  const text = ctx.stdin === false || isatty(0) ? '' : readFileSync(0, 'utf8');
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as HookInput) : {};
  } catch {
    throw invalidInput('The hook input on stdin is not JSON.', 'the client sends its hook JSON on stdin');
  }
}

/** Context for the model, as each client takes it (Gemini reads JSON only, without the event name). */
const context = (client: HookClient, event: HookEvent, text: string) => ({
  hookSpecificOutput: { ...(client === 'gemini' ? {} : { hookEventName: clientEventName(client, event) }), additionalContext: text },
});

/**
 * The binding of this client session, if its baton session is still on: by the client's session
 * id, else by the client's process (its MCP server or a shell command joined first, or the hooks
 * were installed while the session ran).
 */
function boundTo(dir: string, state: State, key: string, client: HookClient, env: Record<string, string | undefined>): Binding | null {
  const bindings = readBindings(dir);
  // The client's session id first: the processes above are looked up only when it is not bound.
  return boundAmong(bindings, state, [key]) ?? boundAmong(bindings, state, clientKeys(env, client));
}


/** The notifications as lines for the model (folded repeats once, the high ones marked). */
function describe(ns: Notification[]): string {
  return ns.map((n) => `- #${n.seq}${n.priority === 'high' ? ' [high]' : ''} ${n.kind}${n.task ? ` (${n.task})` : ''}${n.count > 1 ? ` ×${n.count}` : ''}: ${(n.text ?? '').replace(/\s+/g, ' ').slice(0, 300)}`).join('\n');
}

/**
 * Under the board lock, reads the agent's unread notifications, lets `pick` choose what to hand
 * over, and moves the inbox cursor past exactly that (never past one not handed over): two hooks
 * of one session at once (parallel tool calls) deliver each notification once between them.
 */
async function deliver(dir: string, ctx: Ctx, creds: Credentials, pick: (ns: Notification[]) => Notification[]): Promise<{ picked: Notification[]; all: Notification[] }> {
  const { withLock } = await import('../store/tx.js');
  return withLock(dir, ctx.lockTimeoutMs, async () => {
    // state.json alone: the delivery holds the board lock, and needs no task.
    const state = await readStateHead(dir);
    const { agent } = authenticate(state, creds);
    const { acked, notifications } = unread(dir, state, agent);
    const picked = pick(notifications);
    const to = picked.length ? ackable(picked, notifications.slice(notifications.indexOf(picked.at(-1)!) + 1), acked) : null;
    if (to !== null) moveCursor(dir, inboxCursor(agent.id), to);
    return { picked, all: notifications };
  });
}

const DELIVER_MAX = 20;

async function sessionStart(dir: string, ctx: Ctx, client: HookClient, key: string, o: HookOptions): Promise<{ session: string; output: Record<string, unknown> }> {
  let state = await readState(dir);
  const keys = [...new Set([key, ...clientKeys(ctx.env, client)])];
  const bindings = readBindings(dir);
  // A resumed or compacted client session goes on as its baton session; a spawned child's client
  // acts as the session it was started with; a client whose MCP server or shell joined first, as that one.
  let b = boundAmong(bindings, state, [key]);
  const { BATON_SESSION, BATON_TOKEN } = ctx.env;
  const given = b || !BATON_TOKEN ? null : authenticated(state, { session: BATON_SESSION, token: BATON_TOKEN });
  if (given) b = { session: given.session.id, token: BATON_TOKEN!, agent: given.agent.id, bound_at: new Date().toISOString(), joined: false, by: 'env' };
  // The client process's session, unless another client session's hooks bound it: that one is
  // not this client session (a client that switched sessions in one process).
  const notHooks = (x: Binding) => x.by !== 'hook';
  b ??= boundAmong(bindings, state, keys, notHooks);
  if (b) b = (await bindKeys(dir, ctx.lockTimeoutMs, keys, { ...b, by: b.by === 'env' ? 'env' : 'hook' }, notHooks)) ?? b;
  else b = await joinForClient(ctx, { base: client, name: o.name ?? ctx.env.BATON_AGENT_NAME, role: o.role ?? 'worker', specialty: o.specialty, keys, by: 'hook', yieldTo: notHooks });
  state = await readState(dir);
  // Later shell commands of this client session act as it, by the client process they run
  // under; Claude Code also runs its env file before each, which names the session outright.
  // baton's lines replace the ones an earlier start wrote; the rest of the file stays.
  const envFile = ctx.env.CLAUDE_ENV_FILE;
  if (envFile) {
    const vars = { BATON_SESSION: b.session, BATON_TOKEN: b.token, BATON_AGENT: b.agent, BATON_DIR: dir };
    let before = '';
    try {
      before = readFileSync(envFile, 'utf8');
    } catch {
      before = '';
    }
    const kept = before.split('\n').filter((l) => l && !/^export BATON_(SESSION|TOKEN|AGENT|DIR)=/.test(l));
    writeFileSync(envFile, [...kept, ...Object.entries(vars).map(([k, v]) => `export ${k}=${shellQuote(v)}`), ''].join('\n'), { mode: 0o600 });
    chmodSync(envFile, 0o600);
  }
  const d = primeData(dir, state, await readConfig(dir), credsOf(b), undefined);
  return { session: b.session, output: context(client, 'session-start', renderPrimer(d)) };
}

/**
 * The board a hook after a tool call or at a stop looks at: the read index when it names the
 * current state.json (it holds the agents, the sessions and every task holding a lease, all these
 * hooks read), else state.json whole. A hook runs after every tool call: on 10,000 tasks, parsing
 * every shard would cost it some 150 ms each time.
 */
async function hookState(dir: string, ctx: Ctx): Promise<State> {
  return (ctx.env.BATON_NO_INDEX !== '1' && readHotState(dir)) || readState(dir);
}

/** Whether the session's leases (or, holding none, the session itself) were renewed long enough ago to renew now. */
function renewDue(state: State, session: string, ttlSeconds: number, now: number): boolean {
  const every = renewEvery(ttlSeconds);
  const held = heldBy(state, session);
  const last = held.length ? Math.min(...held.map((t) => Date.parse(t.lease!.heartbeat_at ?? t.lease!.expires_at) || 0)) : Date.parse(state.sessions[session]!.heartbeat_at);
  return now - last >= every;
}

async function postToolUse(dir: string, ctx: Ctx, client: HookClient, b: Binding, read: State): Promise<Record<string, unknown> | null> {
  let state = read;
  const config = await readConfig(dir);
  if (renewDue(state, b.session, config.lease_ttl_seconds, Date.now())) {
    const { heartbeat } = await import('../commands/agents.js');
    await heartbeat({}, { ...ctx, creds: credsOf(b), warnings: [] });
    state = await hookState(dir, ctx);
  }
  // Nothing new (the common case): no lock taken.
  const { agent } = authenticate(state, credsOf(b));
  if (!unread(dir, state, agent).notifications.length) return null;
  const { picked, all } = await deliver(dir, ctx, credsOf(b), (ns) => ns.slice(0, DELIVER_MAX));
  if (!picked.length) return null;
  const more = all.length - picked.length;
  // The messages as they were sent; baton's own command as the agent's shell runs it.
  const text = `baton: ${picked.length} new for you (marked read):\n${describe(picked)}${more ? `\n…and ${more} more: ${asShell('baton inbox', shellBaton(routeOf(dirname(dir))))}` : ''}`;
  return context(client, 'post-tool-use', text);
}

async function stop(dir: string, ctx: Ctx, client: HookClient, b: Binding, input: HookInput, state: State): Promise<Record<string, unknown> | null> {
  // Already continuing because of a stop hook: never hold the agent twice (no loop).
  if (input.stop_hook_active) return null;
  authenticate(state, credsOf(b));
  const held = heldBy(state, b.session).filter((t) => t.status === 'in_progress' || t.status === 'in_review');
  const reasons: string[] = [];
  // baton's commands as the agent's shell runs them; the titles as they are.
  const say = (text: string) => asShell(text, shellBaton(routeOf(dirname(dir))));
  for (const t of held) {
    reasons.push(
      t.status === 'in_review'
        ? `You are reviewing ${t.id} ("${t.title.slice(0, 80)}"):${say(` finish with baton review approve ${t.id} or baton review reject ${t.id} --notes "what must change".`)}`
        : `You still hold ${t.id} ("${t.title.slice(0, 80)}"):${say(` finish it with baton done ${t.id} --notes "what changed", hand it over with baton handoff ${t.id} --notes "what is done, what is left", or give it back with baton release ${t.id}.`)}`,
    );
  }
  // An unread high-priority message holds the stop too: it is delivered here, with every
  // notification before it (the inbox is read up to it, so none of those may go unseen).
  const { picked } = await deliver(dir, ctx, credsOf(b), (ns) => {
    let last = -1;
    ns.forEach((n, i) => {
      if (n.priority === 'high') last = i;
    });
    return ns.slice(0, last + 1);
  });
  if (picked.length) reasons.push(`Unread message${picked.length > 1 ? 's' : ''}, at least one high-priority (now marked read):\n${describe(picked)}`);
  if (!reasons.length) return null;
  return { decision: client === 'gemini' ? 'deny' : 'block', reason: `baton: before you stop:\n${reasons.join('\n')}` };
}

export interface HookOptions {
  client?: string;
  name?: string;
  role?: string;
  specialty?: string;
}

/**
 * `baton hook EVENT`: what the installed hooks run, with the client's JSON on stdin. It answers
 * the client in the client's own format and exits 0 whatever happens on the board: a hook that
 * fails says why on stderr and lets the agent go on (an exit 2 would read as "block" to the clients).
 */
export async function hook(rawEvent: string, o: HookOptions, ctx: Ctx): Promise<HookResult> {
  const client: HookClient = isHookClient(o.client ?? 'claude') ? ((o.client ?? 'claude') as HookClient) : 'claude';
  const event = ((HOOK_EVENTS as readonly string[]).includes(rawEvent) ? rawEvent : 'session-start') as HookEvent;
  const done = (session: string | null, output: Record<string, unknown> | null): HookResult => ({ revision: -1, event, client, session, output });
  try {
    if (!(HOOK_EVENTS as readonly string[]).includes(rawEvent)) throw invalidInput(`Unknown hook event '${rawEvent}': use ${HOOK_EVENTS.join(', ')}.`, 'baton hooks install claude');
    checkHookClient(o.client ?? 'claude');
    checkRole(o.role);
    const input = readInput(ctx);
    if (!input.session_id || typeof input.session_id !== 'string') return done(null, null);
    const key = bindingKey(client, input.session_id);
    const dir = boardDir(ctx);
    if (event === 'session-start') {
      const r = await sessionStart(dir, ctx, client, key, o);
      return done(r.session, r.output);
    }
    const state = await hookState(dir, ctx);
    const b = boundTo(dir, state, key, client, ctx.env);
    if (!b) return done(null, null);
    if (event === 'post-tool-use') return done(b.session, await postToolUse(dir, ctx, client, b, state));
    if (event === 'stop') return done(b.session, await stop(dir, ctx, client, b, input, state));
    // Session end: the client session is over. Its baton session leaves (what it held goes back)
    // when it was joined for this client and no other client session's hooks are bound to it;
    // else it is only unbound.
    const bindings = readBindings(dir);
    const mine = new Set([key, ...clientKeys(ctx.env, client)]);
    const shared = Object.entries(bindings).some(([k, o2]) => !mine.has(k) && !isProcKey(k) && o2.session === b.session && o2.by === 'hook');
    if (b.joined && !shared) {
      const { leave } = await import('../commands/agents.js');
      await leave({ ...ctx, creds: credsOf(b), warnings: [] });
    }
    await bindKeys(dir, ctx.lockTimeoutMs, [...mine].filter((k) => bindings[k]?.session === b.session), null);
    return done(b.session, null);
  } catch (e) {
    // Whatever failed, the agent goes on: the reason on stderr, nothing on stdout, exit 0.
    const message = e instanceof BatonError ? `${e.message}${e.hint ? ` (next: ${e.hint})` : ''}` : (e as Error).message;
    ctx.warnings.push(`baton hook ${rawEvent}: ${message}`);
    return done(null, null);
  }
}
