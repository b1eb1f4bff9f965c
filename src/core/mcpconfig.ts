import { basename, dirname } from 'node:path';
import { BOARD_DIRNAME } from './board.js';
import { parseClientJson, readClientFile, writeClientFile } from './clientfile.js';
import { invalidInput } from './errors.js';

/**
 * The MCP client configs `baton mcp config` and `init --mcp` write: each client's project file
 * (in the board's parent directory, the project), with baton's server merged into what is there:
 * every other server and key kept, a baton entry that already runs `npx baton mcp` (with flags or
 * an env of its own) left as it is, the file written again only when it changes. The command is
 * `npx baton mcp`, so it works from a fresh clone once its dependencies are installed; the
 * server finds the board from the directory the client starts it in (`--dir` when the board is
 * not `project-plan/`).
 */

const MCP_CLIENTS = ['claude', 'cursor', 'codex', 'gemini', 'vscode'] as const;
export type McpClient = (typeof MCP_CLIENTS)[number];

const NAME = 'baton';

/** The server entry, as every client spells a stdio server, for a board at `board` (absolute). */
function serverFor(board: string): { command: string; args: string[] } {
  const rel = basename(board);
  return { command: 'npx', args: ['baton', 'mcp', ...(rel === BOARD_DIRNAME ? [] : ['--dir', rel])] };
}

interface JsonClient {
  file: string;
  /** The key under which the file lists its servers. */
  key: string;
  /** Clients that want the transport named. */
  typed: boolean;
}

const JSON_CLIENTS: Record<Exclude<McpClient, 'codex'>, JsonClient> = {
  claude: { file: '.mcp.json', key: 'mcpServers', typed: true },
  cursor: { file: '.cursor/mcp.json', key: 'mcpServers', typed: false },
  gemini: { file: '.gemini/settings.json', key: 'mcpServers', typed: false },
  vscode: { file: '.vscode/mcp.json', key: 'servers', typed: true },
};
const CODEX_FILE = '.codex/config.toml';

export function checkClient(raw: string | undefined): McpClient {
  const c = (raw ?? '').toLowerCase();
  if (!(MCP_CLIENTS as readonly string[]).includes(c)) throw invalidInput(`${raw ? `Unknown client '${raw}'` : 'Name the client'}: use ${MCP_CLIENTS.join(', ')}.`, 'baton mcp config --client claude');
  return c as McpClient;
}

export interface McpConfigPlan {
  client: McpClient;
  /** The project directory the file is in (the board's parent). */
  root: string;
  /** Relative to the root. */
  file: string;
  /** The whole file as it would be (or is) written. */
  content: string;
  /** False when the file already says this. */
  changed: boolean;
}

/** Whether an entry already runs this baton server (its own flags and env are the user's). */
const runsBaton = (entry: unknown, server: { command: string; args: string[] }): boolean => {
  const e = entry as { command?: unknown; args?: unknown } | null;
  return !!e && e.command === server.command && Array.isArray(e.args) && server.args.every((a, i) => (e.args as unknown[])[i] === a);
};

/** What the client's file would hold with baton's server in it, from what it holds now (reads only). */
export function planMcpConfig(board: string, client: McpClient): McpConfigPlan {
  const root = dirname(board);
  const server = serverFor(board);
  if (client === 'codex') {
    const before = readClientFile(root, CODEX_FILE);
    const content = mergeToml(before ?? '', server);
    return { client, root, file: CODEX_FILE, content, changed: content !== before };
  }
  const c = JSON_CLIENTS[client];
  const before = readClientFile(root, c.file);
  const doc = parseClientJson(c.file, before, `add "${NAME}": ${JSON.stringify({ ...(c.typed ? { type: 'stdio' } : {}), ...server })} under "${c.key}" by hand`);
  const servers = doc[c.key];
  if (servers !== undefined && (!servers || typeof servers !== 'object' || Array.isArray(servers))) throw invalidInput(`"${c.key}" in ${c.file} is not an object.`, `fix ${c.file} by hand`);
  const existing = (servers as Record<string, unknown> | undefined)?.[NAME];
  if (runsBaton(existing, server)) return { client, root, file: c.file, content: before!, changed: false };
  // A baton entry that runs something else: its command and args are baton's now, its env and the rest stay.
  const entry = { ...(existing && typeof existing === 'object' ? existing : {}), ...(c.typed ? { type: 'stdio' } : {}), ...server };
  const merged = { ...doc, [c.key]: { ...(servers as Record<string, unknown> | undefined), [NAME]: entry } };
  return { client, root, file: c.file, content: `${JSON.stringify(merged, null, 2)}\n`, changed: true };
}

const isHeader = (l: string) => /^\s*\[/.test(l);
/** `[mcp_servers.baton]`, the key bare or quoted. */
const isOurTable = (l: string) => /^\s*\[\s*mcp_servers\s*\.\s*(baton|"baton"|'baton')\s*\]\s*(#.*)?$/.test(l);

/**
 * Codex's TOML, edited as text so every comment and line of the user's stays: the `command` and
 * `args` keys of the `[mcp_servers.baton]` table set (its other keys and sub-tables kept), or
 * the table added at the end. A baton server defined some other way (a dotted key, an inline
 * table under `[mcp_servers]`) is refused rather than defined twice.
 */
function mergeToml(text: string, server: { command: string; args: string[] }): string {
  const command = `command = ${JSON.stringify(server.command)}`;
  const args = `args = [${server.args.map((a) => JSON.stringify(a)).join(', ')}]`;
  const lines = text.split('\n');
  let inServers = false;
  for (const l of lines) {
    if (isHeader(l)) inServers = /^\s*\[\s*mcp_servers\s*\]/.test(l);
    const dotted = /^\s*mcp_servers\s*\.\s*["']?baton["']?\s*[.=]/.test(l);
    const inline = inServers && /^\s*["']?baton["']?\s*[.=]/.test(l);
    if (dotted || inline) {
      throw invalidInput(`${CODEX_FILE} defines the baton server in a form baton does not rewrite (${l.trim().slice(0, 60)}).`, `make it a [mcp_servers.baton] table with ${command} and ${args}, by hand`);
    }
  }
  const start = lines.findIndex(isOurTable);
  if (start < 0) return `${text}${text && !text.endsWith('\n') ? '\n' : ''}${text.trim() ? '\n' : ''}[mcp_servers.${NAME}]\n${command}\n${args}\n`;
  let end = start + 1;
  while (end < lines.length && !isHeader(lines[end]!)) end++;
  const body = lines.slice(start + 1, end);
  const key = (name: string) => body.findIndex((l) => new RegExp(`^\\s*${name}\\s*=`).test(l));
  const argsAt = key('args');
  // Already baton's (its flags are the user's): nothing to change.
  if (body[key('command')]?.trim() === command && argsAt >= 0 && body[argsAt]!.replace(/\s+/g, ' ').startsWith(args.slice(0, -1))) return text;
  const kept: string[] = [];
  for (let i = 0; i < body.length; i++) {
    const l = body[i]!;
    if (/^\s*command\s*=/.test(l)) continue;
    if (/^\s*args\s*=/.test(l)) {
      // A multi-line array: up to its closing bracket.
      if (l.includes('[') && !l.includes(']')) while (i + 1 < body.length && !body[i]!.includes(']')) i++;
      continue;
    }
    kept.push(l);
  }
  return [...lines.slice(0, start + 1), command, args, ...kept, ...lines.slice(end)].join('\n');
}

/** Writes the plan (a file that already says it is left alone). */
export function writeMcpConfig(plan: McpConfigPlan): void {
  if (plan.changed) writeClientFile(plan.root, plan.file, plan.content);
}

/** project-plan/mcp-host-config.json: the server entry any MCP host can take as it is. */
export const HOST_CONFIG_FILE = 'mcp-host-config.json';
export const hostConfig = (board: string): string => `${JSON.stringify({ mcpServers: { [NAME]: serverFor(board) } }, null, 2)}\n`;
