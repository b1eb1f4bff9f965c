import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * The processes above this one, and the agent client among them. A client (Claude Code, Codex
 * CLI, Gemini CLI) starts its MCP servers, its hooks and its shell commands as its own children,
 * so the process they share is what links them into one baton session (bindings.ts): the MCP
 * server's parent is the client, a hook's parent is the client or a shell it runs the hook
 * with, and a shell command has the client somewhere above it.
 *
 * Read from /proc on Linux and from one `ps` on macOS; elsewhere there are none (and nothing is
 * linked by process: the clients' own session variables still are).
 */

export interface Proc {
  pid: number;
  ppid: number;
  /** When the process started, as the system tells it: with the pid, it names one process for good. */
  start: string;
  /** The executable's short name (what `ps -o comm` shows). */
  comm: string;
}

function linuxProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid … starttime is the 22nd field; comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    // A zombie (exited, not yet reaped by its parent) is gone.
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return { pid, ppid: Number(fields[1]), start: fields[19] ?? '', comm: stat.slice(stat.indexOf('(') + 1, close) };
  } catch {
    return null;
  }
}

let table: Map<number, Proc> | null = null;
/** Every process, from one `ps` (macOS and the BSDs have no /proc). */
function psTable(): Map<number, Proc> {
  if (table) return table;
  table = new Map();
  try {
    // node:child_process is loaded here, not with the module: loading it costs every command about 5 ms.
    const out = process.getBuiltinModule('node:child_process').execFileSync('ps', ['-axo', 'pid=,ppid=,lstart=,comm='], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 });
    for (const line of out.split('\n')) {
      // pid ppid Dow Mon dd hh:mm:ss yyyy comm
      const m = /^\s*(\d+)\s+(\d+)\s+(\S+\s+\S+\s+\d+\s+[\d:]+\s+\d+)\s+(.*)$/.exec(line);
      if (m) table.set(Number(m[1]), { pid: Number(m[1]), ppid: Number(m[2]), start: m[3]!.replace(/\s+/g, '-'), comm: m[4]!.split('/').pop()! });
    }
  } catch {
    /* no ps: no processes */
  }
  return table;
}

/** One process, or null when it is gone (or the system gives no way to look). */
function procOf(pid: number): Proc | null {
  if (process.platform === 'linux') return linuxProc(pid);
  if (process.platform === 'darwin' || process.platform.endsWith('bsd')) return psTable().get(pid) ?? null;
  return null;
}

let chain: Proc[] | null = null;
/** This process's parent, its parent, … up to (not including) the system's first process. */
export function ancestors(): Proc[] {
  if (chain) return chain;
  chain = [];
  const seen = new Set<number>([process.pid]);
  for (let pid = process.ppid; pid > 1 && !seen.has(pid) && chain.length < 64; ) {
    seen.add(pid);
    const p = procOf(pid);
    if (!p) break;
    chain.push(p);
    pid = p.ppid;
  }
  return chain;
}

/**
 * What runs a command without being its caller: shells, `env`, `timeout`, npm's and npx's
 * launchers. The first process above that is none of these is what started the command.
 */
const WRAPPER = /^(sh|bash|dash|zsh|ksh|mksh|fish|busybox|env|timeout|nice|nohup|stdbuf|setsid|time|xargs|sudo|tini|dumb-init|npm|npx|pnpm|yarn|bunx|npm exec.*|npm-cli.*|npx-cli.*)$/;

/** The process that started this one, past the shells and launchers it went through (null: none seen). */
export function starter(): Proc | null {
  return ancestors().find((p) => !WRAPPER.test(p.comm.trim())) ?? null;
}

/** A process's name in bindings: host, pid and start, so a reused pid is another process. */
export const procKey = (p: Proc): string => `proc:${hostname()}:${p.pid}:${p.start}`;

/** Whether the process a key names is still running (false when it is another host's: that can't be told here). */
export function procAlive(key: string): boolean {
  const m = /^proc:(.*):(\d+):([^:]*)$/.exec(key);
  if (!m || m[1] !== hostname()) return false;
  table = null; // macOS: a fresh look, not the one this process took when it started
  const p = procOf(Number(m[2]));
  return p !== null && p.start === m[3];
}

/** Whether a key names a process of this host (whose life can be told here). */
export const procOnThisHost = (key: string): boolean => key.startsWith(`proc:${hostname()}:`);

/** A process's command line (Linux; elsewhere its short name): how a client that runs on node is told. */
function commandLine(p: Proc): string {
  if (process.platform !== 'linux') return p.comm;
  try {
    return readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ');
  } catch {
    return p.comm;
  }
}

const CLIENT_PROCESS: Record<string, RegExp> = { claude: /(^|[/\s@])claude(-code)?([\s/.]|$)/, codex: /(^|[/\s@])codex([\s/.-]|$)/, gemini: /(^|[/\s@])gemini(-cli)?([\s/.]|$)/ };

/** Whether a process is an agent client baton knows (Claude Code, Codex CLI, Gemini CLI), by its name or command line. */
export function isClientProcess(p: Proc, client?: string): boolean {
  const patterns = client ? [CLIENT_PROCESS[client]!] : Object.values(CLIENT_PROCESS);
  const line = `${p.comm} ${WRAPPER.test(p.comm.trim()) ? '' : commandLine(p)}`;
  return patterns.some((re) => re.test(line));
}

/** The nearest process above this one that is the client `client` (null: none seen). */
export function clientProcess(client: string): Proc | null {
  return ancestors().find((p) => isClientProcess(p, client)) ?? null;
}
