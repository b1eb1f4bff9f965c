import { basename, dirname } from 'node:path';
import { parse as parseToml, patch as patchToml } from '@decimalturn/toml-patch';
import { BOARD_DIRNAME } from '../store/boarddir.js';
import { editClientJson, parseClientJson, readClientFile, writeClientFile } from './clientfile.js';
import { invalidInput } from '../rules/errors.js';
import { batonArgv, PACKAGE, type Route } from '../rules/shellword.js';
import { routeOf } from './launch.js';

/**
 * The MCP client configs `baton mcp config` and `init --mcp` write: each client's project file
 * (in the board's parent directory, the project), with baton's server merged into what is there:
 * every other server, key and comment kept, the file written again only when it changes. The
 * server runs the project's own baton (`node node_modules/baton-board/bin/baton.cjs mcp`, see
 * launch.ts; the clients start project servers in the project's root), or `baton-board mcp`
 * when baton is installed globally. An entry an older baton wrote (`npx baton mcp`, an absolute
 * path) is brought up to date, keeping its own flags and env. The server finds the board from
 * the directory the client starts it in (`--dir` when the board is not `project-plan/`).
 */

const MCP_CLIENTS = ['claude', 'cursor', 'codex', 'gemini', 'vscode'] as const;
export type McpClient = (typeof MCP_CLIENTS)[number];

const NAME = 'baton';

/** The server entry, as every client spells a stdio server, for a board at `board` (absolute); `extra` are the entry's own flags. */
function serverFor(board: string, route: Route, extra: string[] = []): { command: string; args: string[] } {
  const rel = basename(board);
  return batonArgv(route, ['mcp', ...(rel === BOARD_DIRNAME ? [] : ['--dir', rel]), ...extra]);
}

/**
 * The flags of an entry that runs some baton's MCP server (this one's, an older one's: `npx baton
 * mcp`, `node …/baton.cjs mcp`, `baton mcp`), beyond the `--dir` baton sets itself; null when
 * the entry runs something else.
 */
function batonFlags(entry: unknown): string[] | null {
  const e = entry as { command?: unknown; args?: unknown } | null;
  if (!e || typeof e.command !== 'string' || !Array.isArray(e.args) || !e.args.every((a) => typeof a === 'string')) return null;
  const words = [e.command, ...(e.args as string[])];
  const at = words.indexOf('mcp');
  if (at < 1) return null;
  const runner = words.slice(0, at);
  const isBaton = (w: string) => /(^|[/\\])(baton|baton-board)(\.cjs)?$/.test(w) || w === PACKAGE;
  const ok = runner.some(isBaton) && runner.every((w) => isBaton(w) || w === 'npx' || w === 'node' || w.startsWith('-'));
  if (!ok) return null;
  const flags = words.slice(at + 1);
  const dir = flags.indexOf('--dir');
  if (dir >= 0) flags.splice(dir, 2);
  return flags;
}

interface JsonClient {
  file: string;
  /** The key under which the file lists its servers. */
  key: string;
  /** Clients that want the transport named. */
  typed: boolean;
  /** Keys the entry gets unless the file already sets them. */
  defaults?: Record<string, unknown>;
}

const JSON_CLIENTS: Record<Exclude<McpClient, 'codex'>, JsonClient> = {
  // Claude Code defers a server's tools behind its ToolSearch tool unless the server is loaded
  // always: baton's are the agent's loop, so they are in every request from the first.
  claude: { file: '.mcp.json', key: 'mcpServers', typed: true, defaults: { alwaysLoad: true } },
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

/** What the client's file would hold with baton's server in it, from what it holds now (reads only). */
export function planMcpConfig(board: string, client: McpClient): McpConfigPlan {
  const root = dirname(board);
  const route = routeOf(root);
  if (client === 'codex') {
    const before = readClientFile(root, CODEX_FILE);
    const content = mergeToml(before ?? '', board, route);
    return { client, root, file: CODEX_FILE, content, changed: content !== before };
  }
  const c = JSON_CLIENTS[client];
  const before = readClientFile(root, c.file);
  const fresh = { ...(c.typed ? { type: 'stdio' } : {}), ...serverFor(board, route) };
  const doc = parseClientJson(c.file, before, `add "${NAME}": ${JSON.stringify(fresh)} under "${c.key}" by hand`);
  const servers = doc[c.key];
  if (servers !== undefined && (!servers || typeof servers !== 'object' || Array.isArray(servers))) throw invalidInput(`"${c.key}" in ${c.file} is not an object.`, `fix ${c.file} by hand`);
  const existing = (servers as Record<string, unknown> | undefined)?.[NAME];
  // A baton entry keeps its own flags, env and other keys; its command and args become this route's.
  const flags = batonFlags(existing) ?? [];
  const entry: Record<string, unknown> = { ...(existing && typeof existing === 'object' ? existing : {}), ...(c.typed ? { type: 'stdio' } : {}), ...serverFor(board, route, flags) };
  for (const [k, v] of Object.entries(c.defaults ?? {})) if (!(k in entry)) entry[k] = v;
  if (JSON.stringify(entry) === JSON.stringify(existing)) return { client, root, file: c.file, content: before!, changed: false };
  const content = editClientJson(before, [c.key, NAME], entry);
  return { client, root, file: c.file, content, changed: content !== before };
}

/**
 * Codex's TOML, edited with toml-patch so every comment and line of the user's stays: the
 * `command` and `args` of the baton server set wherever the file defines it (its other keys
 * kept), or a `[mcp_servers.baton]` table added at the end, as Codex's documentation writes it.
 * `required = true` (unless the file says otherwise): Codex does not wait for its MCP servers
 * before its first model request unless one is required, and then baton's tools are missing
 * from it.
 */
function mergeToml(text: string, board: string, route: Route): string {
  let doc: Record<string, any>;
  try {
    doc = text.trim() ? (parseToml(text) as Record<string, any>) : {};
  } catch (e) {
    throw invalidInput(`${CODEX_FILE} is not TOML (${(e as Error).message.split('\n')[0]}), so baton will not rewrite it.`, `fix ${CODEX_FILE}, then baton mcp config --client codex`);
  }
  const servers = doc.mcp_servers;
  if (servers !== undefined && (typeof servers !== 'object' || Array.isArray(servers))) throw invalidInput(`mcp_servers in ${CODEX_FILE} is not a table.`, `fix ${CODEX_FILE} by hand`);
  const existing = servers?.[NAME] as Record<string, unknown> | undefined;
  if (!existing) {
    const s = serverFor(board, route);
    const table = `[mcp_servers.${NAME}]\ncommand = ${JSON.stringify(s.command)}\nargs = [${s.args.map((a) => JSON.stringify(a)).join(', ')}]\nrequired = true\n`;
    return `${text}${text && !text.endsWith('\n') ? '\n' : ''}${text.trim() ? '\n' : ''}${table}`;
  }
  const s = serverFor(board, route, batonFlags(existing) ?? []);
  if (existing.command === s.command && JSON.stringify(existing.args) === JSON.stringify(s.args) && existing.required !== undefined) return text;
  existing.command = s.command;
  existing.args = s.args;
  existing.required ??= true;
  return patchToml(text, doc);
}

/** Writes the plan (a file that already says it is left alone). */
export function writeMcpConfig(plan: McpConfigPlan): void {
  if (plan.changed) writeClientFile(plan.root, plan.file, plan.content);
}

/** project-plan/mcp-host-config.json: the server entry any MCP host can take as it is. */
export const HOST_CONFIG_FILE = 'mcp-host-config.json';
export const hostConfig = (board: string): string => `${JSON.stringify({ mcpServers: { [NAME]: serverFor(board, routeOf(dirname(board))) } }, null, 2)}\n`;
