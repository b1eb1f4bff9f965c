import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { invalidInput } from './errors.js';
import { writeFileAtomic } from './store.js';

/**
 * The MCP client configs `baton mcp config` and `init --mcp` write: each client's project file,
 * with baton's server merged into what is there (every other server and key kept, written again
 * only when it changes). The command is `npx baton mcp`, so it works from a fresh clone once its
 * dependencies are installed, and the server finds the board from the directory it starts in.
 */

const MCP_CLIENTS = ['claude', 'cursor', 'codex', 'gemini', 'vscode'] as const;
export type McpClient = (typeof MCP_CLIENTS)[number];

/** The server entry, as every client spells a stdio server. */
const SERVER = { command: 'npx', args: ['baton', 'mcp'] };
const NAME = 'baton';

interface JsonClient {
  file: string;
  /** The key under which the file lists its servers. */
  key: string;
  entry: Record<string, unknown>;
}

const JSON_CLIENTS: Record<Exclude<McpClient, 'codex'>, JsonClient> = {
  claude: { file: '.mcp.json', key: 'mcpServers', entry: { type: 'stdio', ...SERVER } },
  cursor: { file: '.cursor/mcp.json', key: 'mcpServers', entry: { ...SERVER } },
  gemini: { file: '.gemini/settings.json', key: 'mcpServers', entry: { ...SERVER } },
  vscode: { file: '.vscode/mcp.json', key: 'servers', entry: { type: 'stdio', ...SERVER } },
};
const CODEX_FILE = '.codex/config.toml';

export function checkClient(raw: string | undefined): McpClient {
  const c = (raw ?? '').toLowerCase();
  if (!(MCP_CLIENTS as readonly string[]).includes(c)) throw invalidInput(`${raw ? `Unknown client '${raw}'` : 'Name the client'}: use ${MCP_CLIENTS.join(', ')}.`, 'baton mcp config --client claude');
  return c as McpClient;
}

export interface McpConfigPlan {
  client: McpClient;
  /** Relative to the project root. */
  file: string;
  /** The whole file as it would be (or is) written. */
  content: string;
  /** False when the file already says exactly this. */
  changed: boolean;
}

const readOrNull = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
};

/** What the client's file would hold with baton's server in it, from what it holds now. */
export function planMcpConfig(root: string, client: McpClient): McpConfigPlan {
  if (client === 'codex') {
    const before = readOrNull(join(root, CODEX_FILE));
    const content = mergeToml(before ?? '');
    return { client, file: CODEX_FILE, content, changed: content !== before };
  }
  const c = JSON_CLIENTS[client];
  const before = readOrNull(join(root, c.file));
  let doc: Record<string, unknown> = {};
  if (before !== null && before.trim() !== '') {
    try {
      doc = JSON.parse(before) as Record<string, unknown>;
    } catch {
      throw invalidInput(`${c.file} is not plain JSON (comments?), so baton will not rewrite it.`, `add "${NAME}": ${JSON.stringify(c.entry)} under "${c.key}" by hand`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalidInput(`${c.file} is not a JSON object.`, `fix ${c.file} by hand`);
  }
  const servers = doc[c.key];
  if (servers !== undefined && (!servers || typeof servers !== 'object' || Array.isArray(servers))) throw invalidInput(`"${c.key}" in ${c.file} is not an object.`, `fix ${c.file} by hand`);
  const merged = { ...doc, [c.key]: { ...(servers as Record<string, unknown> | undefined), [NAME]: c.entry } };
  const content = `${JSON.stringify(merged, null, 2)}\n`;
  const same = before !== null && JSON.stringify(JSON.parse(before || '{}')) === JSON.stringify(merged);
  return { client, file: c.file, content: same ? before : content, changed: !same };
}

/**
 * Codex's TOML: the `[mcp_servers.baton]` table (and any of its sub-tables) replaced in place,
 * or added at the end; every other line kept as it is, comments included.
 */
function mergeToml(text: string): string {
  const table = `[mcp_servers.${NAME}]\ncommand = ${JSON.stringify(SERVER.command)}\nargs = ${JSON.stringify(SERVER.args).replace(/,/g, ', ')}\n`;
  const lines = text.split('\n');
  const isOurs = (l: string) => /^\s*\[\s*mcp_servers\.(baton|"baton")\s*(\]|\.)/.test(l);
  const start = lines.findIndex(isOurs);
  if (start < 0) return `${text}${text && !text.endsWith('\n') ? '\n' : ''}${text.trim() ? '\n' : ''}${table}`;
  let end = start + 1;
  while (end < lines.length && (!/^\s*\[/.test(lines[end]!) || isOurs(lines[end]!))) end++;
  // Keep the blank lines that separated it from the next table.
  while (end > start + 1 && lines[end - 1]!.trim() === '') end--;
  return [...lines.slice(0, start), table.trimEnd(), ...lines.slice(end)].join('\n');
}

/** Writes the plan (a file that already says it is left alone). */
export function writeMcpConfig(root: string, plan: McpConfigPlan): void {
  if (!plan.changed) return;
  const path = join(root, plan.file);
  if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, plan.content);
}

/** project-plan/mcp-host-config.json: the server entry any MCP host can take as it is. */
export const HOST_CONFIG_FILE = 'mcp-host-config.json';
export const hostConfig = (): string => `${JSON.stringify({ mcpServers: { [NAME]: SERVER } }, null, 2)}\n`;
