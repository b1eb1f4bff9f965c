import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { ModelServer, type Recorded } from '../harness.js';

/**
 * The OpenAI model API as Codex CLI 0.169 speaks it, scripted: the Responses API (`POST
 * /v1/responses`, `stream: true`), answered as server-sent events (response.created,
 * response.output_item.added/done for each function_call or message item, response.completed).
 * It is the only wire API 0.169 has for a custom provider (`wire_api = "responses"`; "chat" is
 * refused at start-up), and there is no separate endpoint for tool results: each tool's output
 * comes back as a `function_call_output` item in the `input` of the next request.
 *
 * How Codex names things to the model, as measured on 0.169.1:
 * - the shell is the function `exec_command` ({cmd}), run as `bash -lc CMD` in the workspace;
 * - an MCP server's tools are one `{"type": "namespace", "name": "mcp__<server>", "tools": […]}`
 *   entry of `tools`, each tool under its own name (`next`, `claim`); the model calls one with a
 *   function_call item that carries `namespace: "mcp__<server>"` and `name: "<tool>"`;
 * - hook context (SessionStart, PostToolUse additionalContext) arrives as `developer` messages in `input`.
 *
 * A test gives a list of steps. Each answers one request, in order, deciding the model's next
 * turn from what the request holds (a tool's result, a hook's context), so a test reads like the
 * agent's loop. Every request is recorded; a step that throws is recorded as an error and
 * answered with a plain message, so the client ends its turn instead of waiting on the script.
 */

/** What the model answers with: a function call (a tool, in a namespace or not) or a message. */
export type Output = { type: 'function_call'; name: string; namespace?: string; arguments: Record<string, unknown> } | { type: 'message'; text: string };

/** A call of a tool of an MCP server (Codex: namespace `mcp__<server>`, the tool's own name). */
export const mcpCall = (server: string, tool: string, args: Record<string, unknown> = {}): Output => ({ type: 'function_call', namespace: `mcp__${server}`, name: tool, arguments: args });
/** A shell command, through Codex's `exec_command` tool. */
export const shell = (cmd: string): Output => ({ type: 'function_call', name: 'exec_command', arguments: { cmd } });
/** An assistant message: with no call beside it, the model ends its turn. */
export const say = (text: string): Output => ({ type: 'message', text });

/** One call the model made, and where it was made. */
export interface Call {
  /** The request it answered (0-based among /responses requests). */
  turn: number;
  step: string;
  callId: string;
  name: string;
  namespace?: string;
  arguments: Record<string, unknown>;
}

type Item = Record<string, any>;

/** One /responses request, with what a step needs to read from it. */
export class Turn {
  constructor(
    readonly index: number,
    readonly request: Recorded,
    private readonly model: ScriptedOpenAI,
  ) {}

  get input(): Item[] {
    return Array.isArray(this.request.body?.input) ? (this.request.body.input as Item[]) : [];
  }

  /** The names of the top-level function tools offered (`exec_command`, …). */
  functions(): string[] {
    return ((this.request.body?.tools ?? []) as Item[]).filter((t) => t.type === 'function').map((t) => String(t.name));
  }

  /** The tools of an MCP server offered to the model in this request (empty: none offered). */
  mcpTools(server: string): string[] {
    const ns = ((this.request.body?.tools ?? []) as Item[]).find((t) => t.type === 'namespace' && t.name === `mcp__${server}`);
    return ns && Array.isArray(ns.tools) ? (ns.tools as Item[]).map((t) => String(t.name)) : [];
  }

  /** The text of every message in the input, in order (developer, user, assistant). */
  messages(role?: string): string[] {
    return this.input.filter((i) => i.type === 'message' && (!role || i.role === role)).map((i) => textOf(i.content));
  }

  /** Everything the model is shown, as one text (messages and tool outputs). */
  text(): string {
    return this.input.map((i) => (i.type === 'message' ? textOf(i.content) : i.type === 'function_call_output' ? textOf(i.output) : '')).join('\n');
  }

  /** The output of a call, as the client gave it back (undefined: not in this request). */
  output(callId: string): string | undefined {
    const item = this.input.find((i) => i.type === 'function_call_output' && i.call_id === callId);
    return item ? textOf(item.output) : undefined;
  }

  /** The calls the model made in answer to the previous request. */
  previousCalls(): Call[] {
    return this.model.calls.filter((c) => c.turn === this.index - 1);
  }

  /** The output of the one call the previous answer made: it must be in this request. */
  lastOutput(): string {
    const [call] = this.previousCalls();
    if (!call) throw new Error(`request ${this.index}: the previous answer made no call`);
    const out = this.output(call.callId);
    if (out === undefined) throw new Error(`request ${this.index}: no output for ${call.namespace ?? ''}${call.namespace ? '.' : ''}${call.name} (${call.callId})`);
    return out;
  }

  /** The JSON document a tool answered (an MCP result, or a `--json` command's stdout) in the last call's output. */
  lastJson(): any {
    return jsonIn(this.lastOutput());
  }

  /** The input items that were not in the previous request (what the client added since: outputs, hook context). */
  added(): Item[] {
    const prev = this.model.turns[this.index - 1];
    return prev ? this.input.slice(prev.input.length) : this.input;
  }
}

/** A step: answers one request. */
export interface Step {
  /** What the step is for (in errors and in the record). */
  name: string;
  reply: (turn: Turn) => Output | Output[] | Promise<Output | Output[]>;
  /**
   * What the step waits for: while a request does not meet it, the model answers `meanwhile`
   * and the step stays for the next request, `tries` requests in all (default 3), then fails.
   */
  when?: (turn: Turn) => boolean;
  meanwhile?: (turn: Turn) => Output | Output[];
  tries?: number;
  /** A step the client may never ask for (a stop that may or may not be refused). */
  optional?: boolean;
}

/** Text of a message's content or a tool's output (a string, or content items). */
function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((c) => (c && typeof c === 'object' && typeof (c as Item).text === 'string' ? (c as Item).text : '')).join('\n');
  return '';
}

/**
 * The JSON document in a tool output. Codex wraps both kinds: MCP results as "Wall time: …\nOutput:\n{json}",
 * shell results with a header of their own before "Output:\n".
 */
function jsonIn(output: string): any {
  const at = output.indexOf('Output:\n');
  const body = (at >= 0 ? output.slice(at + 'Output:\n'.length) : output).trim();
  const start = body.search(/[[{]/);
  if (start < 0) throw new Error(`no JSON in the tool output: ${output.slice(0, 400)}`);
  try {
    return JSON.parse(body.slice(start));
  } catch {
    throw new Error(`the tool output is not JSON: ${output.slice(0, 400)}`);
  }
}

/** The model API, scripted: steps answer requests in order; every request and call is recorded. */
export class ScriptedOpenAI {
  readonly turns: Turn[] = [];
  readonly calls: Call[] = [];
  /** Steps that threw, requests the script had no step for, requests that were not /responses. */
  readonly errors: string[] = [];
  readonly server: ModelServer;
  private next = 0;
  private waited = 0;

  constructor(private readonly steps: Step[]) {
    this.server = new ModelServer((req, res) => this.handle(req, res));
  }

  /** Starts the server; the base URL a provider's `base_url` names (…/v1). */
  async start(): Promise<string> {
    return `${await this.server.start()}/v1`;
  }

  /** Every request the client made, /responses or not. */
  get requests(): Recorded[] {
    return this.server.requests;
  }

  private async handle(req: Recorded, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || !/\/v1\/responses\/?$/.test(req.path.split('?')[0]!)) {
      this.errors.push(`unexpected request ${req.method} ${req.path}`);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no ${req.path} here` } }));
      return;
    }
    const turn = new Turn(this.turns.length, req, this);
    this.turns.push(turn);
    const step = this.steps[this.next];
    let outputs: Output[];
    let name = step?.name ?? '(none)';
    if (!step) {
      this.errors.push(`request ${turn.index}: the script has no step left`);
      outputs = [say('(the script is over)')];
    } else {
      try {
        let r: Output | Output[];
        if (step.when && !step.when(turn) && ++this.waited < (step.tries ?? 3)) {
          name = `${step.name} (waiting)`;
          r = step.meanwhile ? step.meanwhile(turn) : say('(waiting)');
        } else {
          const waited = this.waited;
          this.next++;
          this.waited = 0;
          if (step.when && !step.when(turn)) throw new Error(`what it waits for did not come in ${waited} requests`);
          r = await step.reply(turn);
        }
        outputs = Array.isArray(r) ? r : [r];
      } catch (e) {
        this.errors.push(`request ${turn.index}, step "${step.name}": ${(e as Error).message}`);
        name = `${step.name} (failed)`;
        outputs = [say(`(the script failed: ${(e as Error).message})`)];
      }
    }
    this.stream(res, turn.index, name, outputs);
  }

  private stream(res: ServerResponse, index: number, step: string, outputs: Output[]): void {
    const id = `resp_${index}`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    send('response.created', { response: { id, status: 'in_progress' } });
    outputs.forEach((o, i) => {
      let item: Item;
      if (o.type === 'message') {
        item = { type: 'message', id: `msg_${index}_${i}`, role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: o.text, annotations: [] }] };
        send('response.output_item.added', { output_index: i, item: { ...item, status: 'in_progress', content: [] } });
      } else {
        const callId = `call_${index}_${i}`;
        this.calls.push({ turn: index, step, callId, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}), arguments: o.arguments });
        item = { type: 'function_call', id: `fc_${index}_${i}`, call_id: callId, ...(o.namespace ? { namespace: o.namespace } : {}), name: o.name, arguments: JSON.stringify(o.arguments), status: 'completed' };
        send('response.output_item.added', { output_index: i, item: { ...item, arguments: '', status: 'in_progress' } });
      }
      send('response.output_item.done', { output_index: i, item });
    });
    send('response.completed', { response: { id, status: 'completed', usage: { input_tokens: 100, input_tokens_details: { cached_tokens: 0 }, output_tokens: 10, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 110 } } });
    res.end();
  }

  /** The steps the client never asked for, but optional ones. */
  unused(): string[] {
    return this.steps.slice(this.next).filter((s) => !s.optional).map((s) => s.name);
  }

  /** The first request after `call` that carries its output, and the output (undefined: none did). */
  outputOf(call: Call): { turn: number; output: string } | undefined {
    for (const t of this.turns.slice(call.turn + 1)) {
      const output = t.output(call.callId);
      if (output !== undefined) return { turn: t.index, output };
    }
    return undefined;
  }

  /** What the log of a failed case shows: each request's new items and the answer to it, short. */
  transcript(): string {
    return this.turns
      .map((t) => {
        const added = t.added().map((i) => `    + ${i.type}${i.role ? `(${i.role})` : ''}: ${(i.type === 'message' ? textOf(i.content) : i.type === 'function_call_output' ? textOf(i.output) : JSON.stringify(i)).replace(/\s+/g, ' ').slice(0, 300)}`);
        const answered = this.calls.filter((c) => c.turn === t.index).map((c) => `    → ${c.namespace ? `${c.namespace}.` : ''}${c.name} ${JSON.stringify(c.arguments)}`);
        return [`  request ${t.index} (tools: ${t.functions().length} functions, baton: ${t.mcpTools('baton').length})`, ...added, ...answered].join('\n');
      })
      .join('\n');
  }
}

/**
 * A proxy on 127.0.0.1 that lets nothing through: the client's HTTP(S)_PROXY, so anything it
 * tries to reach beyond the model server (127.0.0.1, in NO_PROXY) is refused here, and recorded.
 * Codex 0.169 honours the proxy variables for its own requests and its git child processes.
 */
export class ProxyTrap {
  /** `CONNECT host:port` or `METHOD url` of every attempt. */
  readonly attempts: string[] = [];
  private server: Server | null = null;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.attempts.push(`${req.method} ${req.url}`);
      res.writeHead(403);
      res.end();
    });
    this.server.on('connect', (req, socket) => {
      this.attempts.push(`CONNECT ${req.url}`);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    onTestFinished(() => {
      this.server?.closeAllConnections();
      this.server?.close();
    });
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The environment that sends every request but the loopback ones to the trap. */
  static env(proxy: string): Record<string, string> {
    const loopback = '127.0.0.1,localhost,::1';
    return { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, ALL_PROXY: proxy, https_proxy: proxy, http_proxy: proxy, all_proxy: proxy, NO_PROXY: loopback, no_proxy: loopback };
  }
}

/** The variable the provider reads its key from: a dummy, so no real key is ever needed or sent. */
export const KEY_VARIABLE = 'CONFORMANCE_MODEL_KEY';

/**
 * The user's ~/.codex/config.toml: the scripted model as a custom provider, and everything that
 * reaches the network switched off (all keys accepted by `codex exec --strict-config` on 0.169.1):
 * - update check: `check_for_update_on_startup = false`;
 * - analytics and feedback uploads: `[analytics] enabled = false`, `[feedback] enabled = false`;
 * - OpenTelemetry: `[otel] exporter = trace_exporter = metrics_exporter = "none"`;
 * - the curated plugin sync (git ls-remote github.com, api.github.com), the apps/connectors
 *   directory (chatgpt.com) and tool suggestions: `[features] plugins = apps = remote_plugin =
 *   plugin_sharing = tool_suggest = false`;
 * - the hosted web search tool: `web_search = "disabled"`;
 * - retries: none, so a failed request ends the run instead of waiting out back-offs.
 */
export function codexUserConfig(baseUrl: string, model = 'conformance-model'): string {
  return [
    `model = "${model}"`,
    'model_provider = "conformance"',
    'check_for_update_on_startup = false',
    'web_search = "disabled"',
    '',
    '[model_providers.conformance]',
    'name = "conformance"',
    `base_url = "${baseUrl}"`,
    `env_key = "${KEY_VARIABLE}"`,
    'wire_api = "responses"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[otel]',
    'exporter = "none"',
    'trace_exporter = "none"',
    'metrics_exporter = "none"',
    '',
    '[features]',
    'plugins = false',
    'apps = false',
    'remote_plugin = false',
    'plugin_sharing = false',
    'tool_suggest = false',
    '',
  ].join('\n');
}
