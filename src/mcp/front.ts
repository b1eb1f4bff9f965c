import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';

/**
 * The stdio side of `baton mcp`, so that a client lists baton's tools in its very first model
 * request: Claude Code and Codex send it as soon as their servers have answered or not, and
 * loading the SDK (some 400 KB of code and every protocol schema) is most of a server's start.
 * The build records what the server answers to `initialize` (for each 2025 protocol revision) and
 * to `tools/list` (dist/mcp-prebuilt.json, made by build-mcp.cjs from the real server); until the
 * SDK is needed, this front answers those two (and `ping`) from that record, byte for byte what
 * the SDK would say. Every message, answered or not, is handed to the SDK in order once it runs
 * (its answers to what the front answered are dropped), so its state is the state of a server
 * that answered everything itself. A revision the record lacks, a 2026 opening, and anything else
 * go to the SDK, loaded then.
 */

/** What the build recorded of the real server's answers. */
export interface Prebuilt {
  version: string;
  /** The `initialize` result for each protocol revision a client may ask for. */
  initialize: Record<string, Record<string, unknown>>;
  /** Every tool of the `all` tier as `tools/list` lists it, by name. */
  tools: Record<string, Record<string, unknown>>;
}

const PREBUILT_FILE = join('dist', 'mcp-prebuilt.json');

/** The record, when it is this version's (a checkout whose dist/ is older answers through the SDK). */
export function readPrebuilt(packageRoot: string, version: string, env: Record<string, string | undefined>): Prebuilt | null {
  if (env.BATON_MCP_PREBUILT === '0') return null;
  try {
    const p = JSON.parse(readFileSync(join(packageRoot, PREBUILT_FILE), 'utf8')) as Prebuilt;
    return p.version === version && p.initialize && p.tools ? p : null;
  } catch {
    return null;
  }
}

type Id = string | number;
type Incoming = { jsonrpc?: string; id?: Id; method?: string; params?: Record<string, unknown> };

/** The SDK's transport: what stdin brought (kept until the SDK starts it), and stdout. */
export class FrontTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private backlog: JSONRPCMessage[] | null = [];
  /** Requests the front answered: the SDK's answers to them are not sent again. */
  private readonly answered = new Set<Id>();

  constructor(private readonly write: (line: string) => void) {}

  async start(): Promise<void> {
    // After the SDK has finished connecting: then what came before it, in order.
    setImmediate(() => {
      const waiting = this.backlog ?? [];
      this.backlog = null;
      for (const m of waiting) this.onmessage?.(m);
    });
  }

  receive(message: JSONRPCMessage): void {
    if (this.backlog) this.backlog.push(message);
    else this.onmessage?.(message);
  }

  answer(id: Id, result: unknown): void {
    this.answered.add(id);
    this.write(JSON.stringify({ result, jsonrpc: '2.0', id })); // the SDK's own key order
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const m = message as { id?: Id; result?: unknown; error?: unknown };
    if (m.id !== undefined && ('result' in m || 'error' in m) && this.answered.delete(m.id)) return;
    this.write(JSON.stringify(message));
  }

  async close(): Promise<void> {
    this.onclose?.();
  }
}

/**
 * Reads stdin as the stdio binding frames it (one JSON-RPC message a line), answers what the
 * record can, hands every message to the transport, and calls `needSdk` when a message needs the
 * SDK, or once the client has been quiet a moment after the front's answers.
 */
export function serveFront(o: { prebuilt: Prebuilt | null; listed: () => Record<string, unknown>[] | null; transport: FrontTransport; needSdk: () => void; onError: (e: Error) => void }): void {
  let sdk = false;
  let opened = false;
  let idle: NodeJS.Timeout | undefined;
  const load = () => {
    if (idle) clearTimeout(idle);
    if (!sdk) {
      sdk = true;
      o.needSdk();
    }
  };
  /** Whether the front answered the message (or it needs no answer): the SDK can wait. */
  const answer = (m: Incoming): boolean => {
    if (sdk || !o.prebuilt || typeof m.method !== 'string') return false;
    if (m.id === undefined) return opened && m.method === 'notifications/initialized';
    if (m.method === 'initialize' && !opened) {
      const asked = m.params?.protocolVersion;
      const result = typeof asked === 'string' ? o.prebuilt.initialize[asked] : undefined;
      if (!result || !m.params?.capabilities || typeof m.params.capabilities !== 'object' || !m.params.clientInfo || typeof m.params.clientInfo !== 'object') return false;
      opened = true;
      o.transport.answer(m.id, result);
      return true;
    }
    if (opened && m.method === 'tools/list' && m.params?.cursor === undefined) {
      const tools = o.listed();
      if (tools) o.transport.answer(m.id, { tools });
      return tools !== null;
    }
    if (opened && m.method === 'ping') {
      o.transport.answer(m.id, {});
      return true;
    }
    return false;
  };
  const handle = (m: Incoming) => {
    const answered = answer(m);
    o.transport.receive(m as JSONRPCMessage);
    if (!answered) load();
    else {
      // Quiet for a moment (the client's model is thinking): load the SDK for the first call.
      if (idle) clearTimeout(idle);
      idle = setTimeout(load, 100);
    }
  };
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      let m: Incoming;
      try {
        m = JSON.parse(line) as Incoming;
      } catch (e) {
        o.onError(new Error(`not a JSON-RPC message: ${(e as Error).message}`));
        continue;
      }
      handle(m);
    }
  });
  process.stdin.once('end', () => {
    if (idle) clearTimeout(idle);
    o.transport.onclose?.();
  });
}
