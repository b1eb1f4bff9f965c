// The SDK is imported when a message needs it (front.ts); the build serves it from dist/vendor/.
import type { CallToolResult, ServerContext } from '@modelcontextprotocol/server';
import * as z from 'zod/mini';
import { successDoc, toBatonError } from '../cli/output.js';
import { heartbeat, leave } from '../commands/agents.js';
import { boardDir, type Ctx, type RunIO } from '../commands/context.js';
import type { Credentials } from '../rules/sessions.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { renewEvery } from '../rules/leases.js';
import { checkRole } from '../commands/primedata.js';
import { boundAmong, clientOfMcp, readBindings } from '../clients/bindings.js';
import { cacheStateReads, readConfig, readState } from '../store/store.js';
import { clientKeys, credsOf, joinForClient } from '../commands/link.js';
import { VERSION } from '../rules/version.js';
import { FrontTransport, readPrebuilt, serveFront } from './front.js';
import { inputJson, inputZod, outputJson } from './schemas.js';
import { commandFor, selectTools, type Tool } from './tools.js';

/**
 * `baton mcp`: the board as a stdio MCP server (the official SDK, both the 2026-07-28 protocol
 * and the 2025 ones). Its tools are the command table's records (tools.ts); a call runs the
 * same `run()` the CLI runs and answers the same JSON. The server is one agent session, joined on
 * the first call that needs one and left when the client goes.
 */

export interface McpOptions {
  tools?: string | undefined;
  name?: string | undefined;
  role?: string | undefined;
  specialty?: string | undefined;
}

/** A JSON Schema whose root is an object, as tools/list carries them. */
type JsonObjectSchema = { type: 'object'; [key: string]: unknown };

/** What a list-like tool returns when the call gives no `limit`. */
export const DEFAULT_LIMIT = 50;

/** Progress notifications of a waiting call, this often. */
const PROGRESS_MS = 2000;

const INSTRUCTIONS =
  'baton is the task board this repository shares with other agents and people. Loop: next (what to do now) → claim → work → done; ' +
  'release what you will not finish, handoff what someone else should. Every call renews your leases. inbox shows messages for you (ack: true marks them read).';

/** Logs go to stderr: stdout carries protocol messages only. A client that went away may have closed it: that is not an error. */
let logging = false;
const log = (message: string) => {
  if (!logging) process.stderr.on('error', () => undefined);
  logging = true;
  try {
    process.stderr.write(`baton mcp: ${message}\n`, () => undefined);
  } catch {
    /* stderr gone */
  }
};

/** A client's name as an agent name: lower case, a-z 0-9 . _ -, at most 64 characters. */
export function agentNameOf(raw: string | undefined): string | null {
  const name = (raw ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return name || null;
}

/**
 * The server's one session: from BATON_SESSION/BATON_TOKEN (a spawned child's), else the session
 * its client is bound to (link.ts: whichever of the client's hooks, shell commands or this server
 * acted first joined it), else joined on the first call that needs one and bound to the client.
 * The binding is looked up on every call: a client that starts a new session in the same process
 * (Claude Code's /clear) moves it, and this server follows.
 */
class AgentSession {
  private readonly given: Credentials | null = null;
  private creds: Credentials | null = null;
  /** Sessions this server joined: it ends them when the client goes, unless the client's hooks end them. */
  private readonly joined = new Map<string, Credentials>();
  private joining: Promise<Credentials> | null = null;
  private renewedAt = 0;
  private keys: string[] | null = null;

  constructor(
    private readonly o: McpOptions,
    private readonly ctx: Ctx,
  ) {
    const { BATON_SESSION, BATON_TOKEN } = ctx.env;
    if (BATON_SESSION && BATON_TOKEN) {
      this.given = { session: BATON_SESSION, token: BATON_TOKEN };
      this.renewedAt = Date.now();
    }
  }

  /** The keys its client is known by: the process that started this server (the client), and the client's session where its variables name it. */
  private clientKeys(clientName: string | undefined): string[] {
    return (this.keys ??= clientKeys(this.ctx.env, clientOfMcp(clientName)));
  }

  /** The name this server was given (--name, BATON_AGENT_NAME): it acts only as an agent of that name. */
  private get named(): string | undefined {
    return this.o.name ?? this.ctx.env.BATON_AGENT_NAME;
  }

  /**
   * The session the client is bound to now, if any; 'other' when it is bound to an agent of
   * another name than this server was given (a second server of one client, named apart, is an
   * agent of its own).
   */
  private async bound(dir: string, clientName: string | undefined): Promise<Credentials | 'other' | null> {
    const bindings = readBindings(dir);
    if (!Object.keys(bindings).length) return null;
    const state = await readState(dir);
    const b = boundAmong(bindings, state, this.clientKeys(clientName));
    if (!b) return null;
    return this.named && state.agents[b.agent]?.name !== this.named ? 'other' : credsOf(b);
  }

  async ensure(clientName: string | undefined): Promise<Credentials> {
    if (this.given) return this.given;
    const dir = boardDir(this.ctx);
    const bound = await this.bound(dir, clientName);
    if (bound && bound !== 'other') {
      if (bound.session !== this.creds?.session) this.renewedAt = Date.now();
      this.creds = bound;
      return bound;
    }
    if (this.creds) return this.creds;
    this.joining ??= this.join(clientName, bound === 'other').finally(() => {
      this.joining = null;
    });
    return this.joining;
  }

  /**
   * Joins again after the session this server acted as ended (reaped while the client was idle,
   * or ended by the client's hooks); `failed` are the credentials that were refused. Calls that
   * failed together join once: a later one finds the new session (or the join under way).
   */
  async rejoin(clientName: string | undefined, failed: Credentials): Promise<Credentials | null> {
    if (this.given) return null;
    if (this.joining) return this.joining;
    if (this.creds && this.creds.session !== failed.session) return this.creds;
    this.creds = null;
    return this.ensure(clientName);
  }

  private async join(clientName: string | undefined, apart: boolean): Promise<Credentials> {
    const client = clientOfMcp(clientName);
    const b = await joinForClient(this.ctx, {
      base: client ?? agentNameOf(clientName) ?? 'mcp-agent',
      name: this.named,
      role: this.o.role,
      specialty: this.o.specialty,
      keys: apart ? [] : this.clientKeys(clientName),
      by: 'mcp',
    });
    this.creds = credsOf(b);
    if (b.created) this.joined.set(b.session, this.creds);
    this.renewedAt = Date.now();
    log(`${b.created ? 'joined' : 'acting'} as ${b.agent} (session ${b.session})`);
    return this.creds;
  }

  /** Renews the session's leases when a good part of the lease time has gone since the last renewal. */
  async renew(): Promise<void> {
    const creds = this.given ?? this.creds;
    if (!creds) return;
    try {
      const ttl = (await readConfig(boardDir(this.ctx))).lease_ttl_seconds;
      if (Date.now() - this.renewedAt < renewEvery(ttl)) return;
      this.renewedAt = Date.now();
      const r = await heartbeat({}, { ...this.ctx, creds, warnings: [] });
      if (r.lost.length) log(`lost the lease of ${r.lost.join(', ')}`);
    } catch (e) {
      log(`could not renew the leases: ${toBatonError(e).message}`);
    }
  }

  /**
   * When the client goes: ends the sessions this server joined (what they hold goes back to the
   * queue), except one the client's hooks took on: they end it when the client session ends
   * (a server restarted by its client must not end the session the client goes on with).
   */
  async leave(): Promise<void> {
    if (!this.joined.size) return;
    let dir: string;
    try {
      dir = boardDir(this.ctx);
    } catch {
      return;
    }
    const bindings = Object.values(readBindings(dir));
    const state = await readState(dir).catch(() => null);
    for (const [session, creds] of this.joined) {
      this.joined.delete(session);
      if (bindings.some((x) => x.session === session && x.by === 'hook') || (state && state.sessions[session]?.ended_at)) continue;
      try {
        const r = await leave({ ...this.ctx, creds, warnings: [] });
        log(`left (session ${r.session}${r.released.length ? `; released ${r.released.join(', ')}` : ''})`);
      } catch (e) {
        log(`could not leave: ${toBatonError(e).message}`);
      }
    }
  }
}

/** A refused input, in the words of the field it is about. */
function inputError(tool: Tool, error: z.core.$ZodError): BatonError {
  const issue = error.issues[0]!;
  const hint = `tools/list shows what ${tool.name} takes`;
  if (issue.code === 'unrecognized_keys') return invalidInput(`${tool.name} has no ${issue.keys.join(', ')}.`, hint);
  const field = issue.path.join('.') || 'the arguments';
  return invalidInput(`Invalid ${field}: ${issue.message}.`, hint);
}

/**
 * Arguments a client adds to every tool for itself, not for the server: Gemini CLI adds
 * `wait_for_previous` (its scheduler's, and its prompt tells the model to set it) and passes it
 * on. Dropped before the check, which refuses any other key a tool does not have.
 */
const CLIENT_KEYS = ['wait_for_previous'];
const withoutClientKeys = (args: Record<string, unknown>): Record<string, unknown> => (CLIENT_KEYS.some((k) => k in args) ? Object.fromEntries(Object.entries(args).filter(([k]) => !CLIENT_KEYS.includes(k))) : args);

const SESSION_LOST = new Set(['SESSION_ENDED', 'AUTH_FAILED']);
const NO_CREDS: Credentials = { session: undefined, token: undefined };

/** Runs the server until the client closes stdin or the process is asked to stop. */
export async function serve(o: McpOptions, ctx: Ctx, io: RunIO): Promise<{ revision: number }> {
  const selected = selectTools(o.tools ?? 'core');
  if ('unknown' in selected) throw invalidInput(`--tools: no tier or tool named ${selected.unknown.join(', ')}.`, 'baton mcp --tools core | orchestrator | all | name,name,…');
  const chosen = selected;
  checkRole(o.role);
  cacheStateReads();

  const tools = new Map(chosen.map((t) => [t.name, t]));
  // Each tool's schemas are made when first needed: a server that only lists its tools (from the
  // build's record) builds none.
  const checks = new Map<string, ReturnType<typeof inputZod>>();
  const checkOf = (t: Tool) => checks.get(t.name) ?? checks.set(t.name, inputZod(t)).get(t.name)!;
  const outputs = new Map<string, Promise<Record<string, unknown>>>();
  const outputOf = (name: string) => outputs.get(name) ?? outputs.set(name, outputJson(tools.get(name)!)).get(name)!;
  const prebuilt = readPrebuilt(ctx.packageRoot, VERSION, ctx.env);
  const recorded = prebuilt && chosen.every((t) => prebuilt.tools[t.name]) ? chosen.map((t) => prebuilt.tools[t.name]!) : null;
  let listed: Record<string, unknown>[] | null = recorded;
  const listAll = async () =>
    (listed ??= await Promise.all(chosen.map(async (t) => ({ name: t.name, title: t.title, description: t.description, inputSchema: inputJson(t) as JsonObjectSchema, outputSchema: (await outputOf(t.name)) as JsonObjectSchema, annotations: t.annotations }))));
  const session = new AgentSession(o, ctx);

  async function call(name: string, args: Record<string, unknown>, rctx: ServerContext, clientName: string | undefined): Promise<CallToolResult> {
    const tool = tools.get(name);
    const stop = new Promise<void>((resolve) => {
      if (rctx.mcpReq.signal.aborted) resolve();
      else rctx.mcpReq.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    let progress: NodeJS.Timeout | undefined;
    try {
      if (!tool) throw new BatonError('USAGE', `No tool named ${name} here.`, { hint: `tools/list shows the ${chosen.length} tools this server has (baton mcp --tools)` });
      const parsed = z.safeParse(checkOf(tool), withoutClientKeys(args));
      if (!parsed.success) throw inputError(tool, parsed.error);
      const { def, input, dropped } = commandFor(tool, parsed.data as Record<string, unknown>);
      if (dropped.length) throw invalidInput(`${dropped.join(', ')}: only ${def === tool.command ? 'without' : 'with'} ${tool.without!.pivot}.`, `tools/list shows what ${tool.name} takes`);
      if ('limit' in def.options && input.limit === undefined) input.limit = DEFAULT_LIMIT;

      // A call that asked for progress hears every 2 s while it runs (at once when it is to wait):
      // waited seconds, out of the wait it asked for when it named one.
      const token = rctx.mcpReq._meta?.progressToken;
      if (token !== undefined) {
        const waits = (input.watch ?? input.timeout) as number | undefined;
        const started = Date.now();
        const tell = () =>
          void rctx.mcpReq
            .notify({
              method: 'notifications/progress',
              params: { progressToken: token, progress: Math.round((Date.now() - started) / 1000), ...(waits ? { total: waits } : {}), message: `${tool.name}: ${waits ? `waiting up to ${waits}s` : 'working'}` },
            })
            .catch(() => undefined);
        if (waits) tell();
        progress = setInterval(tell, PROGRESS_MS);
      }

      const io: RunIO = { emit: () => undefined, quit: stop, tty: false, width: () => 100, height: () => Number.POSITIVE_INFINITY };
      const run = async (creds: Credentials) => {
        const c: Ctx = { ...ctx, creds, warnings: [], command: def.name, mutations: 0, stop, stdin: false };
        const result = await def.run(input as never, c, io);
        return successDoc(result, c.warnings);
      };
      // A command that may act as a session (add, spawn, handoffs --mine…) acts as this server's: the agent's.
      const creds = def.session === 'none' ? NO_CREDS : await session.ensure(clientName);
      let doc: Record<string, unknown>;
      try {
        doc = await run(creds);
      } catch (e) {
        // The board ended the session this server joined (reaped while the client was idle): join again, once.
        const again = e instanceof BatonError && SESSION_LOST.has(e.code) && def.session !== 'none' ? await session.rejoin(clientName, creds) : null;
        if (!again) throw e;
        doc = await run(again);
      }
      return { content: [{ type: 'text', text: JSON.stringify(doc) }], structuredContent: doc };
    } catch (e) {
      const err = toBatonError(e);
      if (err.code === 'INTERNAL') log(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      // The refusal as the output schema allows it (its second branch): Gemini CLI's client checks
      // a refusal's structured content too.
      const shown = err.toJSON();
      return { content: [{ type: 'text', text: JSON.stringify(shown) }], structuredContent: shown, isError: true };
    } finally {
      if (progress) clearInterval(progress);
      // Every call is a sign of life: the session's leases are renewed while the client works.
      await session.renew();
    }
  }

  return new Promise((resolve) => {
    let ending = false;
    const end = (why: string) => {
      if (ending) return;
      ending = true;
      // Leave first: the log may be a pipe to a client that is already gone.
      void session.leave().then(async () => {
        log(`closed (${why})`);
        await (await handle)?.close().catch(() => undefined);
        resolve({ revision: -1 });
      });
    };
    const transport = new FrontTransport((line) => process.stdout.write(`${line}\n`));
    let handle: Promise<{ close(): Promise<void> } | null> = Promise.resolve(null);
    // The SDK, when a message needs it: it is given every message the front has seen, in order.
    const startSdk = () => {
      handle = (async () => {
        const { Server, serveStdio } = await import('./sdk.js');
        return serveStdio(
          () => {
            const server = new Server({ name: 'baton', title: 'baton', version: VERSION }, { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS });
            server.setRequestHandler('tools/list', async () => ({ tools: (await listAll()) as never }));
            server.setRequestHandler('tools/call', async (req, rctx) => {
              // 2026-07-28: every request names its client; 2025: the initialize handshake did.
              const info = (rctx.mcpReq.envelope as Record<string, { name?: string } | undefined> | undefined)?.['io.modelcontextprotocol/clientInfo'];
              const result = await call(req.params.name, req.params.arguments ?? {}, rctx, info?.name ?? server.getClientVersion()?.name);
              return server.projectCallToolResult(result, result.isError || !tools.has(req.params.name) ? undefined : await outputOf(req.params.name));
            });
            return server;
          },
          { transport, onerror: (e) => log(e.message) },
        );
      })();
    };
    serveFront({ prebuilt, listed: () => listed, transport, needSdk: startSdk, onError: (e) => log(e.message) });
    process.stdin.once('end', () => end('the client closed stdin'));
    process.stdin.once('close', () => end('the client closed stdin'));
    void io.quit.then(() => end('signalled'));
  });
}
