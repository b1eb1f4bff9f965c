import type { ServerResponse } from 'node:http';
import type { ModelServer, Recorded } from '../harness.js';

/**
 * A scripted Anthropic Messages API, as Claude Code calls it: POST /v1/messages (streamed as
 * server-sent events when the request says `stream: true`, a JSON message otherwise), and
 * POST /v1/messages/count_tokens. Each request of the agent's loop is answered by the next step
 * of a script; every other request (a side call: a title, a summary, a quota probe, a token
 * count, anything else) gets a harmless answer and no step. Everything is recorded by the
 * ModelServer the handler runs in.
 */

interface ToolCall {
  name: string;
  input: Record<string, unknown>;
}

/** One assistant turn: some text, then tool calls (none: the turn ends). */
interface Turn {
  text?: string;
  tools?: ToolCall[];
}

/** A tool result as the request carries it back: its text, and the call it answers. */
export interface ToolResult {
  id: string;
  /** The tool's name, from the assistant turn that called it. */
  name: string | null;
  text: string;
  isError: boolean;
}

/** What a step sees: the request, and what the loop has carried back to the model since the last turn. */
export interface StepContext {
  /** The position of this request among the loop's requests (0: the first). */
  index: number;
  req: Recorded;
  /** The tool results the request carries after the model's last turn (none when it carries none). */
  results: ToolResult[];
  /** All the text of the messages after the last assistant turn (tool results, hook context, reminders), as one string. */
  fresh: string;
}

export type Step = (ctx: StepContext) => Turn | Promise<Turn>;

// ---------------------------------------------------------------- steps, as an agent's loop reads

/** Call a tool (an MCP tool is `mcp__SERVER__TOOL`). */
export const call =
  (name: string, input: Record<string, unknown> | ((ctx: StepContext) => Record<string, unknown>) = {}): Step =>
  (ctx) => ({ tools: [{ name, input: typeof input === 'function' ? input(ctx) : input }] });

/** Run a shell command with Claude Code's Bash tool. */
export const bash = (command: string | ((ctx: StepContext) => string)): Step => (ctx) => ({
  tools: [{ name: 'Bash', input: { command: typeof command === 'function' ? command(ctx) : command, description: 'run a command' } }],
});

/** End the turn with some text. */
export const say = (text: string): Step => () => ({ text });

/** A step that first runs `before` (while the request waits for its answer), then answers as `step` does. */
export const meanwhile =
  (before: (ctx: StepContext) => void | Promise<void>, step: Step): Step =>
  async (ctx) => {
    await before(ctx);
    return step(ctx);
  };

/** The structured answer of the last tool result, parsed as JSON (an MCP tool's text is its JSON document). */
export function lastJson(ctx: StepContext): any {
  const r = ctx.results.at(-1);
  if (!r) throw new Error(`request ${ctx.index}: no tool result to read`);
  try {
    return JSON.parse(r.text);
  } catch {
    throw new Error(`request ${ctx.index}: the last tool result is not JSON: ${r.text.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------- reading requests

type Block = { type: string; text?: string; content?: unknown; tool_use_id?: string; id?: string; name?: string; is_error?: boolean };
type Message = { role: string; content: string | Block[] };

const blocks = (m: Message): Block[] => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : []);

/** The text of a block, tool results included (their content is a string or a list of text blocks). */
function textOf(b: Block): string {
  if (b.type === 'text') return b.text ?? '';
  if (b.type === 'tool_result') {
    if (typeof b.content === 'string') return b.content;
    if (Array.isArray(b.content)) return (b.content as Block[]).map(textOf).join('\n');
  }
  return '';
}

/** Every piece of text a request carries to the model: the system prompt and every message. */
export function requestText(req: Recorded): string {
  const body = req.body ?? {};
  const system = typeof body.system === 'string' ? body.system : Array.isArray(body.system) ? (body.system as Block[]).map(textOf).join('\n') : '';
  const messages = Array.isArray(body.messages) ? (body.messages as Message[]) : [];
  return [system, ...messages.map((m) => blocks(m).map(textOf).join('\n'))].join('\n');
}

/** The names of the tools a request offers the model. */
export const toolNames = (req: Recorded): string[] => (Array.isArray(req.body?.tools) ? (req.body.tools as { name?: string }[]).map((t) => t.name ?? '') : []);

function contextOf(req: Recorded, index: number): StepContext {
  const messages: Message[] = Array.isArray(req.body?.messages) ? req.body.messages : [];
  let lastAssistant = -1;
  messages.forEach((m, i) => {
    if (m.role === 'assistant') lastAssistant = i;
  });
  const names = new Map<string, string>();
  for (const m of messages) for (const b of blocks(m)) if (b.type === 'tool_use' && b.id) names.set(b.id, b.name ?? '');
  const after = messages.slice(lastAssistant + 1);
  const results: ToolResult[] = [];
  for (const m of after) {
    if (m.role !== 'user') continue;
    for (const b of blocks(m)) if (b.type === 'tool_result') results.push({ id: b.tool_use_id ?? '', name: names.get(b.tool_use_id ?? '') ?? null, text: textOf(b), isError: b.is_error === true });
  }
  return { index, req, results, fresh: after.map((m) => blocks(m).map(textOf).join('\n')).join('\n') };
}

// ---------------------------------------------------------------- answering

let ids = 0;
const nextId = (prefix: string) => `${prefix}_conf${Date.now().toString(36)}${(++ids).toString(36).padStart(4, '0')}`;

function usage(req: Recorded) {
  return { input_tokens: Math.max(1, Math.round(req.raw.length / 4)), output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

/** The assistant message of a turn: its content blocks and why it stopped. */
function messageOf(turn: Turn, model: string, req: Recorded) {
  const content: Record<string, unknown>[] = [];
  if (turn.text || !turn.tools?.length) content.push({ type: 'text', text: turn.text ?? 'ok' });
  for (const t of turn.tools ?? []) content.push({ type: 'tool_use', id: nextId('toolu'), name: t.name, input: t.input });
  return {
    id: nextId('msg'),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: turn.tools?.length ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: usage(req),
  };
}

/** Streams a message as the Messages API does: message_start, each block's start/delta/stop, message_delta, message_stop. */
function stream(res: ServerResponse, message: ReturnType<typeof messageOf>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': nextId('req') });
  const send = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  send('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...message.usage, output_tokens: 1 } } });
  send('ping', {});
  message.content.forEach((block, index) => {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      send('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
    } else {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    }
    send('content_block_stop', { index });
  });
  send('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: 8 } });
  send('message_stop', {});
  res.end();
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': nextId('req') });
  res.end(JSON.stringify(body));
}

/**
 * Whether a request is a turn of the agent's loop: a messages call that offers the model the
 * agent's tools, Bash among them (Claude Code's side calls, such as a session title, offer none;
 * with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC it makes none in `-p` runs).
 */
const isLoopRequest = (req: Recorded): boolean =>
  req.method === 'POST' && /^\/v1\/messages(\?|$)/.test(req.path) && toolNames(req).includes('Bash');

/** A script: the loop's requests, in order, each answered by its step. */
export class AnthropicScript {
  /** The loop's requests, in the order they came. */
  readonly loop: Recorded[] = [];
  /** Requests that were not the loop's (side calls, token counts, other paths). */
  readonly side: Recorded[] = [];
  /** Loop requests that came after the script had ended (each answered with a plain end of turn). */
  overrun = 0;
  /** What each loop request carried (its tool results, its fresh text), by its position. */
  readonly contexts: StepContext[] = [];
  /** Errors thrown by steps (the request got a 400; the test reports them). */
  readonly errors: Error[] = [];

  constructor(private readonly steps: Step[]) {}

  /** The text each loop request brought since the model's last turn (tool results, hook context), by position. */
  get fresh(): string[] {
    return this.contexts.map((c) => c.fresh);
  }

  /** The tool results the loop request at `index` carried. */
  resultsAt(index: number): ToolResult[] {
    return this.contexts[index]?.results ?? [];
  }

  /** The handler for a ModelServer. */
  readonly handler = async (req: Recorded, res: ServerResponse, _server: ModelServer): Promise<void> => {
    const model = typeof req.body?.model === 'string' ? req.body.model : 'claude-conformance';
    if (req.method === 'POST' && /^\/v1\/messages\/count_tokens/.test(req.path)) {
      this.side.push(req);
      return json(res, 200, { input_tokens: Math.max(1, Math.round(req.raw.length / 4)) });
    }
    if (!(req.method === 'POST' && /^\/v1\/messages(\?|$)/.test(req.path))) {
      this.side.push(req);
      return json(res, 404, { type: 'error', error: { type: 'not_found_error', message: `The conformance model server has no ${req.method} ${req.path}.` } });
    }
    let turn: Turn;
    if (!isLoopRequest(req)) {
      this.side.push(req);
      turn = { text: 'ok' };
    } else {
      const index = this.loop.length;
      this.loop.push(req);
      const ctx = contextOf(req, index);
      this.contexts.push(ctx);
      const step = this.steps[index];
      if (!step) {
        this.overrun++;
        turn = { text: 'The script has ended.' };
      } else {
        try {
          turn = await step(ctx);
        } catch (e) {
          // A 400 is not retried: the client ends its turn, and the test reports the step's error.
          this.errors.push(e as Error);
          return json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: `conformance script step ${index} failed: ${(e as Error).message}` } });
        }
      }
    }
    const message = messageOf(turn, model, req);
    if (req.body?.stream === true) stream(res, message);
    else json(res, 200, message);
  };
}
