import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { ModelServer, type Recorded } from '../harness.js';

/**
 * The Gemini API as Gemini CLI 0.61 speaks to it (the google-genai SDK with the `gemini-api-key`
 * auth type and `GOOGLE_GEMINI_BASE_URL`), scripted. What the client sends, seen on the wire:
 *
 * - the agent's loop: `POST /v1beta/models/MODEL:streamGenerateContent?alt=sse` with `contents`
 *   (role user/model, parts of text, functionCall and functionResponse), `systemInstruction`,
 *   `tools: [{functionDeclarations}]` and `generationConfig`. MODEL is whatever the router chose
 *   (gemini-3.1-pro-preview, or a flash model). The answer is server-sent events, each
 *   `data: {candidates: [{content: {role: 'model', parts}, finishReason}], usageMetadata}`.
 *   MCP tools are declared as `mcp_SERVER_TOOL` (`mcp_baton_next`); the shell is
 *   `run_shell_command {command, description}`.
 * - side requests on a flash model, `:generateContent` (not streamed), a JSON answer asked for by
 *   `generationConfig.responseJsonSchema`: the router's complexity score on every prompt
 *   (gemini-3.5-flash-lite, `{complexity_reasoning, complexity_score}`), and when they are on, the
 *   next-speaker check (`{reasoning, next_speaker}`), the loop check and history summaries.
 *   `:countTokens` when it estimates. They are answered harmlessly (a schema-shaped JSON with
 *   the neutral value: next speaker the user, no loop) and recorded like the rest.
 *
 * A script is a list of steps, one per request of the agent's loop: each looks at the request (the
 * tool results the client just sent, the context the hooks added) and decides the model's next
 * turn, so a test reads as the agent's loop does.
 */

// ---------------------------------------------------------------- what the model sees

interface Part {
  text?: string;
  thought?: boolean;
  functionCall?: { id?: string; name: string; args?: Record<string, unknown> };
  functionResponse?: { id?: string; name: string; response?: Record<string, unknown> };
  [k: string]: unknown;
}
export interface Content {
  role?: string;
  parts?: Part[];
}

const partText = (p: Part): string => (typeof p.text === 'string' ? p.text : '');

/** A function response's output as the model reads it: its text, or its JSON. */
function responseText(r: NonNullable<Part['functionResponse']>): string {
  const resp = r.response ?? {};
  if (typeof resp.output === 'string') return resp.output;
  if (typeof resp.error === 'string') return resp.error;
  return JSON.stringify(resp);
}

/** One request of the agent's loop, with what a model reads in it. */
export class AgentRequest {
  constructor(
    readonly recorded: Recorded,
    /** 0 for the first request of the run. */
    readonly index: number,
  ) {}

  get body(): { contents?: Content[]; systemInstruction?: Content; tools?: Array<{ functionDeclarations?: Array<{ name: string }> }> } {
    return this.recorded.body ?? {};
  }

  /** The model the client asked (after its router). */
  get model(): string {
    return /\/models\/([^:/?]+)/.exec(this.recorded.path)?.[1] ?? '';
  }

  /** The function declarations' names, in order. */
  get tools(): string[] {
    return (this.body.tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((f) => f.name));
  }

  get contents(): Content[] {
    return this.body.contents ?? [];
  }

  /** What the client added last: the prompt (with the hooks' context), a retry prompt, or the tool results. */
  get newest(): Content {
    return this.contents.at(-1) ?? {};
  }

  /** The text of the whole conversation (every text part of every content), system instruction aside. */
  get text(): string {
    return this.contents.flatMap((c) => (c.parts ?? []).map(partText)).join('\n');
  }

  /** The text parts of the newest content, and the outputs of its function responses. */
  get newestText(): string {
    return (this.newest.parts ?? []).map((p) => (p.functionResponse ? responseText(p.functionResponse) : partText(p))).join('\n');
  }

  /** The function responses of the newest content (the results of the tool calls of the last turn). */
  get functionResponses(): Array<{ name: string; output: string; response: Record<string, unknown> }> {
    return (this.newest.parts ?? []).flatMap((p) => (p.functionResponse ? [{ name: p.functionResponse.name, output: responseText(p.functionResponse), response: p.functionResponse.response ?? {} }] : []));
  }

  /** The output of the newest response of tool `name` (the only one when no name is given); throws when there is none. */
  output(name?: string): string {
    const r = this.functionResponses.filter((f) => !name || f.name === name);
    if (!r.length) throw new Error(`request ${this.index}: no function response${name ? ` of ${name}` : ''} (it has ${this.functionResponses.map((f) => f.name).join(', ') || 'none'})`);
    return r.at(-1)!.output;
  }
}

// ---------------------------------------------------------------- the script

interface FunctionCall {
  name: string;
  args: Record<string, unknown>;
}
/** The model's turn: text (the end of its turn), or function calls (after any text). */
export type Reply = { text: string; calls?: undefined } | { text?: string; calls: FunctionCall[] };

export type Step = (req: AgentRequest, model: GeminiModel) => Reply | Promise<Reply>;

/** Ends the model's turn with this text. */
export const say =
  (text: string): Step =>
  () => ({ text });

/** Calls one tool (its name as the model sees it: `mcp_baton_next`, `run_shell_command`). */
export const call =
  (name: string, args: Record<string, unknown> | ((req: AgentRequest) => Record<string, unknown>) = {}): Step =>
  (req) => ({ calls: [{ name, args: typeof args === 'function' ? args(req) : args }] });

/** Runs a command with Gemini CLI's shell tool. */
export const shell = (command: string | ((req: AgentRequest) => string)): Step =>
  call('run_shell_command', (req) => {
    const c = typeof command === 'function' ? command(req) : command;
    return { command: c, description: `Run ${c.split(' && ').at(-1)!.slice(0, 80)}` };
  });

/** Does `first` (another process acting on the board, say) before the model answers as `then` does. */
export const after =
  (first: (req: AgentRequest) => void | Promise<void>, then: Step): Step =>
  async (req, model) => {
    await first(req);
    return then(req, model);
  };

// ---------------------------------------------------------------- side requests

/** The neutral answer of a side request's JSON fields: the user speaks next, no loop, a middling task. */
const NEUTRAL: Record<string, unknown> = {
  next_speaker: 'user',
  complexity_score: 50,
  unproductive_state_confidence: 0,
};

/** A value of the shape a response schema asks (first enum value, zero, empty), neutral where it matters. */
function shaped(schema: any, key?: string): unknown {
  if (key && key in NEUTRAL) return NEUTRAL[key];
  if (!schema || typeof schema !== 'object') return null;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  const type = String(Array.isArray(schema.type) ? schema.type[0] : (schema.type ?? (schema.properties ? 'object' : 'string'))).toLowerCase();
  if (type === 'object') return Object.fromEntries(Object.entries((schema.properties ?? {}) as Record<string, unknown>).map(([k, v]) => [k, shaped(v, k)]));
  if (type === 'array') return [];
  if (type === 'integer' || type === 'number') return 0;
  if (type === 'boolean') return false;
  return key ? `scripted ${key}` : 'scripted';
}

const usage = (req: Recorded) => {
  const prompt = Math.ceil(req.raw.length / 4);
  return { promptTokenCount: prompt, candidatesTokenCount: 8, totalTokenCount: prompt + 8 };
};

function candidate(parts: Part[]) {
  return { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }] };
}

function sendJson(res: ServerResponse, status: number, doc: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(doc));
}

function sendSse(res: ServerResponse, docs: unknown[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.end(docs.map((d) => `data: ${JSON.stringify(d)}\r\n\r\n`).join(''));
}

// ---------------------------------------------------------------- the server

/** A request outside the agent's loop (the router, the other checks, anything unknown: answered 404), as it came. */
export interface SideRequest {
  recorded: Recorded;
  kind: 'generateContent' | 'streamGenerateContent' | 'countTokens' | 'other';
}

export class GeminiModel {
  readonly server: ModelServer;
  /** The agent's loop: each request, the turn the script answered it with, and when (ms since the epoch). */
  readonly turns: Array<{ request: AgentRequest; reply: Reply; at: number }> = [];
  readonly side: SideRequest[] = [];
  /** What went wrong in the script (a step that threw, requests after its end): empty on a run that went as written. */
  readonly problems: string[] = [];
  /** Connections the client (or anything it started) tried to open off this machine, through the guard proxy. */
  readonly escapes: string[] = [];
  private next = 0;
  private guard: Server | null = null;
  private base = '';
  private guardUrl = '';

  constructor(private readonly steps: Step[]) {
    this.server = new ModelServer((req, res) => this.answer(req, res));
  }

  /** Starts the model API and the guard proxy, both on 127.0.0.1. */
  async start(): Promise<this> {
    this.base = await this.server.start();
    // Anything that honours the proxy variables and is not for the loopback address ends here, refused and recorded.
    this.guard = createServer((req, res) => {
      this.escapes.push(`${req.method} ${req.url}`);
      res.writeHead(403).end();
    });
    this.guard.on('connect', (req, socket) => {
      this.escapes.push(`CONNECT ${req.url}`);
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    await new Promise<void>((r) => this.guard!.listen(0, '127.0.0.1', r));
    this.guardUrl = `http://127.0.0.1:${(this.guard.address() as AddressInfo).port}`;
    onTestFinished(() => {
      this.guard?.closeAllConnections();
      this.guard?.close();
    });
    return this;
  }

  /**
   * The client's environment for this API: the key (any string: only this server reads it), the
   * base URL, and every proxy variable pointing at the guard, the loopback address excepted.
   */
  env(): Record<string, string> {
    const noProxy = '127.0.0.1,localhost,::1';
    return {
      GEMINI_API_KEY: 'conformance-not-a-real-key',
      GOOGLE_GEMINI_BASE_URL: this.base,
      HTTPS_PROXY: this.guardUrl,
      HTTP_PROXY: this.guardUrl,
      https_proxy: this.guardUrl,
      http_proxy: this.guardUrl,
      NO_PROXY: noProxy,
      no_proxy: noProxy,
    };
  }

  /** The agent's requests, in order. */
  get requests(): AgentRequest[] {
    return this.turns.map((t) => t.request);
  }

  /** Steps of the script not reached. */
  get remaining(): number {
    return this.steps.length - this.next;
  }

  private async answer(rec: Recorded, res: ServerResponse): Promise<void> {
    const path = rec.path.split('?')[0]!;
    const method = /:(\w+)$/.exec(path)?.[1] ?? '';
    const declared = (rec.body?.tools ?? []).some((t: { functionDeclarations?: unknown[] }) => t.functionDeclarations?.length);
    if (rec.method === 'POST' && method === 'streamGenerateContent' && declared) return this.agentTurn(rec, res);
    if (method === 'generateContent' || method === 'streamGenerateContent') {
      this.side.push({ recorded: rec, kind: method });
      const config = rec.body?.generationConfig ?? {};
      const schema = config.responseJsonSchema ?? config.responseSchema;
      const text = schema ? JSON.stringify(shaped(schema)) : 'ok';
      const doc = { ...candidate([{ text }]), usageMetadata: usage(rec) };
      return method === 'generateContent' ? sendJson(res, 200, doc) : sendSse(res, [doc]);
    }
    if (method === 'countTokens') {
      this.side.push({ recorded: rec, kind: 'countTokens' });
      return sendJson(res, 200, { totalTokens: Math.ceil(rec.raw.length / 4) });
    }
    this.side.push({ recorded: rec, kind: 'other' });
    sendJson(res, 404, { error: { code: 404, message: `the conformance model has no ${rec.method} ${path}`, status: 'NOT_FOUND' } });
  }

  private async agentTurn(rec: Recorded, res: ServerResponse): Promise<void> {
    const request = new AgentRequest(rec, this.turns.length);
    let reply: Reply;
    const step = this.steps[this.next];
    if (!step) {
      this.problems.push(`request ${request.index}: the script has ended (${this.steps.length} steps); answered with text`);
      reply = { text: 'The script has ended.' };
    } else {
      this.next++;
      try {
        reply = await step(request, this);
      } catch (e) {
        this.problems.push(`step ${this.next - 1} (request ${request.index}): ${(e as Error).message}`);
        reply = { text: `The script failed: ${(e as Error).message}` };
      }
    }
    this.turns.push({ request, reply, at: Date.now() });
    const parts: Part[] = [];
    if (reply.text) parts.push({ text: reply.text });
    for (const c of reply.calls ?? []) parts.push({ functionCall: { name: c.name, args: c.args } });
    sendSse(res, [{ ...candidate(parts), usageMetadata: usage(rec) }]);
  }
}

/**
 * The user's ~/.gemini/settings.json: the API-key auth chosen (as the first-run dialog would),
 * and nothing reported or fetched: no usage statistics, no telemetry, no update check, no IDE.
 */
export const USER_SETTINGS = {
  security: { auth: { selectedType: 'gemini-api-key' } },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
  ide: { enabled: false },
};
