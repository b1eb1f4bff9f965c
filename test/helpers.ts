import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onTestFinished } from 'vitest';
import { CLIENT_VARIABLES } from '../src/clients/bindings.js';
import { shardText, tasksByShard } from '../src/rules/layout.js';
import { boardOnDisk } from '../bench/board-blobs.mjs';

const ROOT = resolve(import.meta.dirname, '..');
export const BIN = resolve(ROOT, 'bin', 'baton.cjs');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON when it is one document, else null. */
  json: any;
}

export const baseEnv = () => {
  // BATON_VERIFY_WRITES: every write checks the shards it rewrote against a serialisation of every shard.
  const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: '1', BATON_VERIFY_WRITES: '1' };
  for (const k of ['BATON_DIR', 'BATON_SESSION', 'BATON_TOKEN', 'BATON_AGENT', 'BATON_AGENT_NAME', 'BATON_DEBUG', 'FORCE_COLOR']) delete env[k];
  // The suite run inside an agent client is not that client's agent (link.ts).
  for (const k of CLIENT_VARIABLES) delete env[k];
  return env;
};

function toRun(code: number | null, stdout: string, stderr: string): Run {
  let json: any = null;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = null;
  }
  return { code: code ?? -1, stdout, stderr, json };
}

/** Runs the built binary synchronously. */
export function baton(args: string[], opts: { cwd: string; env?: Record<string, string>; input?: string }): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { ...baseEnv(), ...opts.env },
    input: opts.input ?? '',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return toRun(r.status, r.stdout, r.stderr);
}

/**
 * Runs baton in this process (the CLI's runCli on the source, output captured): for tests of
 * what a command answers, where a process of its own proves nothing more. Children it starts
 * (spawn, the merge driver) run the built binary.
 */
export async function batonIn(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  const { runCli } = await import('../src/cli/cli.js');
  let stdout = '';
  let stderr = '';
  const env = { ...baseEnv(), ...opts.env };
  // writeState reads BATON_VERIFY_WRITES from process.env, not from the command's env: the
  // check every spawned baton of the suite runs with must run here too.
  if (env.BATON_VERIFY_WRITES === undefined) delete process.env.BATON_VERIFY_WRITES;
  else process.env.BATON_VERIFY_WRITES = env.BATON_VERIFY_WRITES;
  const code = await runCli(args, {
    cwd: opts.cwd,
    env,
    packageRoot: ROOT,
    bin: BIN,
    tty: false,
    columns: () => 100,
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    quit: () => ({ promise: new Promise<void>(() => undefined), done: () => undefined }),
    streaming: () => undefined,
  });
  return toRun(code, stdout, stderr);
}

/** Runs the built binary as a child process and resolves when it exits. */
export function batonAsync(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: { ...baseEnv(), ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', rej);
    child.on('close', (code) => res(toRun(code, out, err)));
  });
}

/**
 * Instants for the tests that kill at random: drawn from a seeded generator (mulberry32), so every
 * run kills at the same instants after start (only the machine's speed varies). The seed is
 * BATON_TEST_SEED or a fixed one; a failure names it, and BATON_TEST_SEED=<it> draws those instants again.
 */
export function seededInstants(): { seed: number; below(maxMs: number): number } {
  const seed = Number(process.env.BATON_TEST_SEED ?? 0x5eed) >>> 0;
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, below: (maxMs) => Math.floor(next() * maxMs) };
}

/** Polls a tmux pane until it shows `text` (or the deadline passes): waiting on a condition, not a fixed sleep. */
export async function paneShows(session: string, text: string, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  let pane = '';
  while (Date.now() < deadline) {
    pane = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
    if (pane.includes(text)) return pane;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pane never showed ${JSON.stringify(text)}:\n${pane}`);
}

export function tempDir(prefix = 'baton-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestBoard {
  /** The project directory (holds project-plan/). */
  root: string;
  /** The board directory. */
  dir: string;
  run(...args: string[]): Run;
  /** Runs with --json and returns the parsed envelope (fails the test if stdout is not JSON). */
  json(...args: string[]): any;
}

/** A fresh board made by the real `baton init` in a temp directory, removed after the test. */
export function makeBoard(initArgs: string[] = []): TestBoard {
  const root = tempDir();
  const init = baton(['init', '--name', 'test', ...initArgs], { cwd: root });
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  const board: TestBoard = {
    root,
    dir: join(root, 'project-plan'),
    run: (...args) => baton(args, { cwd: root }),
    json: (...args) => {
      const r = baton([...args, '--json'], { cwd: root });
      if (r.json === null) throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
      return { ...r.json, _code: r.code };
    },
  };
  return board;
}

export interface TestBoardIn {
  /** The project directory (holds project-plan/). */
  root: string;
  /** The board directory. */
  dir: string;
  run(...args: string[]): Promise<Run>;
  /** Runs with --json and returns the parsed envelope (fails the test if stdout is not JSON). */
  json(...args: string[]): Promise<any>;
}

/** makeBoard with every command (init too) run in-process by batonIn. */
export async function makeBoardIn(initArgs: string[] = []): Promise<TestBoardIn> {
  const root = tempDir();
  const init = await batonIn(['init', '--name', 'test', ...initArgs], { cwd: root });
  if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
  return {
    root,
    dir: join(root, 'project-plan'),
    run: (...args) => batonIn(args, { cwd: root }),
    json: async (...args) => {
      const r = await batonIn([...args, '--json'], { cwd: root });
      if (r.json === null) throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
      return { ...r.json, _code: r.code };
    },
  };
}

/** sha256 of every file under dir (relative path → hash), to prove a command wrote nothing. */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${r}/`] = 'dir';
        walk(p, r);
      } else out[r] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

/**
 * The board state as one object, as state.json held it before the tasks moved to tasks/*.json:
 * state.json, with every shard's tasks (layout 2) in `tasks`. `dir` is the board directory.
 */
export const boardState = (dir: string): any => boardOnDisk(dir);

/** Writes a board state as a person or git would leave it, in the board's layout: state.json, and the tasks in their shards. */
export function writeBoardState(dir: string, state: any): void {
  const { tasks, ...rest } = state;
  if (rest.schema !== 2) {
    writeFileSync(join(dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
    return;
  }
  rmSync(join(dir, 'tasks'), { recursive: true, force: true });
  mkdirSync(join(dir, 'tasks'));
  for (const [shard, list] of tasksByShard(tasks)) writeFileSync(join(dir, 'tasks', `${shard}.json`), shardText(list));
  writeFileSync(join(dir, 'state.json'), `${JSON.stringify(rest, null, 2)}\n`);
}

export function readJsonl(path: string): any[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

/**
 * baton as a dependency of the project at `root`: node_modules/baton-board linked to this
 * checkout, what `npm install -D <checkout>` makes (test/install.test.ts proves the real install).
 */
export function installInProject(root: string): void {
  mkdirSync(join(root, 'node_modules'), { recursive: true });
  symlinkSync(ROOT, join(root, 'node_modules', 'baton-board'));
}

/**
 * A stand-in agent client (fixtures/client.mjs): one process that starts an MCP server, hooks and
 * shell commands as its own children, as the real clients do, so they can act as one session.
 */
export class FakeClient {
  private readonly child = spawn(process.execPath, [resolve(ROOT, 'test', 'fixtures', 'client.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  private readonly waiting = new Map<number, (m: any) => void>();
  private id = 0;
  private buf = '';

  constructor(private readonly root: string) {
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.buf += d;
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const m = JSON.parse(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        this.waiting.get(m.id)?.(m);
        this.waiting.delete(m.id);
      }
    });
    onTestFinished(() => this.close());
  }

  get pid(): number {
    return this.child.pid!;
  }

  private send(o: Record<string, unknown>): Promise<any> {
    const id = ++this.id;
    this.child.stdin.write(`${JSON.stringify({ id, ...o })}\n`);
    return new Promise((r) => this.waiting.set(id, r));
  }

  /** Starts `baton mcp ARGS` as the client's MCP server, introducing itself as `client`. */
  mcpStart(o: { args?: string[]; env?: Record<string, string>; client?: string } = {}): Promise<void> {
    return this.send({ op: 'mcp-start', argv: [process.execPath, BIN, 'mcp', ...(o.args ?? [])], cwd: this.root, env: { ...baseEnv(), ...o.env }, client: o.client ?? 'claude-code' });
  }

  /** A tools/call: the tool's JSON answer, and whether it was a refusal. */
  async mcpCall(name: string, args: Record<string, unknown> = {}): Promise<{ json: any; isError: boolean }> {
    const r = (await this.send({ op: 'mcp-call', name, arguments: args })).result;
    return { json: JSON.parse(r.content[0].text), isError: r.isError === true };
  }

  /** Closes the MCP server's stdin, as a client that goes does; resolves with its exit code. */
  async mcpStop(): Promise<number> {
    return (await this.send({ op: 'mcp-stop' })).code;
  }

  /** Runs a command as the client runs hooks (`sh -c`, JSON on stdin) or shell commands (`bash -c`). */
  async run(command: string, o: { input?: string; env?: Record<string, string>; shell?: 'sh' | 'bash' } = {}): Promise<Run> {
    const r = await this.send({ op: 'run', shell: o.shell ?? 'sh', command, input: o.input ?? '', cwd: this.root, env: { ...baseEnv(), ...o.env } });
    return toRun(r.code, r.stdout, r.stderr);
  }

  /** baton as a shell command the client's agent runs. */
  baton(args: string[], env: Record<string, string> = {}): Promise<Run> {
    return this.run([process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' '), { shell: 'bash', env });
  }

  /** SIGKILL, as a client that crashes: no session end. Resolves once it is gone. */
  kill(): Promise<void> {
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGKILL');
    return gone;
  }

  close(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.stdin.end();
  }
}
