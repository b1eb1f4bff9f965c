import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { boardState, CLIENTS, cleanEnv, ModelServer, packBaton, type Project, type Recorded, runClient, userRepository } from './harness.js';
import { AnthropicScript, bash, call, lastJson, meanwhile, requestText, say, type Step, toolNames } from './models/anthropic.js';

/**
 * baton inside the real Claude Code (conformance/clients, pinned), run as `claude -p` against a
 * scripted Anthropic API on 127.0.0.1, in a fresh user repository set up as the README says.
 *
 * What Claude Code needs for that, beyond its documentation's first page (see clientEnv and
 * trustProject): ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY; CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC,
 * without which it reaches api.anthropic.com whatever the base URL; ENABLE_TOOL_SEARCH=false for
 * MCP tools in `tools` (it defers them behind ToolSearch by default, a local base URL included);
 * the project trusted and its `.mcp.json` server approved, as its first-run dialogs record them;
 * `--allowedTools` for the tools a headless run may use; `--output-format stream-json --verbose
 * --include-hook-events` to see its MCP servers at init and every hook's outcome.
 */

const CLAUDE = join(CLIENTS, 'claude');
/** A bound on each client run: it is killed after this. */
const RUN_MS = 120_000;

// ---------------------------------------------------------------- the network: the model server, and nothing else

/**
 * A catcher for anything the client would send anywhere but the model server: the client's
 * proxy is this (HTTPS_PROXY and the rest), with only 127.0.0.1 exempt, so a request to any other
 * host arrives here (a CONNECT line, or a plain HTTP request line) and is recorded, not sent.
 */
async function catcher(): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    let head = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      if (head.includes('\n')) return;
      head += d;
      if (head.includes('\n')) {
        seen.push(head.split(/\r?\n/)[0]!);
        s.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, seen };
}

// ---------------------------------------------------------------- the user's repository

/**
 * A fresh repository set up exactly as a user does: install baton from its tarball, init the
 * board, write Claude Code's MCP entry and hooks, then trust the project and approve its baton
 * server as Claude Code's own first-run dialogs do (see trustProject).
 */
function setUp(): Project {
  const p = userRepository();
  p.sh(`npm install -D ${packBaton()} --no-audit --no-fund --loglevel=error`);
  p.sh('npx baton init');
  p.sh('npx baton mcp config --client claude');
  p.sh('npx baton hooks install claude');
  trustProject(p);
  return p;
}

/**
 * Claude Code's trust step, as its interactive first run does it (checked by driving the pinned
 * client in a terminal): "Yes, I trust this folder" records `hasTrustDialogAccepted` for the
 * project in ~/.claude.json, and "Use this MCP server" for the project's `.mcp.json` server adds
 * its name to `enabledMcpjsonServers` in `.claude/settings.local.json`. `claude -p` skips both
 * dialogs; `claude mcp list` shows an unapproved server as pending until both are there.
 */
function trustProject(p: Project): void {
  const global = join(p.home, '.claude.json');
  const doc = existsSync(global) ? (JSON.parse(readFileSync(global, 'utf8')) as Record<string, any>) : {};
  doc.projects = { ...doc.projects, [p.root]: { ...doc.projects?.[p.root], hasTrustDialogAccepted: true } };
  writeFileSync(global, `${JSON.stringify(doc, null, 2)}\n`);
  const local = join(p.root, '.claude', 'settings.local.json');
  const settings = existsSync(local) ? (JSON.parse(readFileSync(local, 'utf8')) as Record<string, any>) : {};
  const enabled: string[] = settings.enabledMcpjsonServers ?? [];
  if (!enabled.includes('baton')) settings.enabledMcpjsonServers = [...enabled, 'baton'];
  mkdirSync(join(p.root, '.claude'), { recursive: true });
  writeFileSync(local, `${JSON.stringify(settings, null, 2)}\n`);
}

/**
 * The environment Claude Code runs in: a fresh HOME (cleanEnv), the model API at `model` with a
 * key of its own, none of its own traffic (CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC alone stops
 * the three connections to api.anthropic.com it otherwise makes whatever ANTHROPIC_BASE_URL says:
 * the MCP registry, its event logging and one more; the others are belt and braces), and every
 * other host behind `proxy`, with only 127.0.0.1 reached directly.
 */
function clientEnv(home: string, model: string, proxy: string, o: RunOptions = {}): Record<string, string> {
  return cleanEnv(home, {
    PATH: process.env.PATH!,
    ANTHROPIC_BASE_URL: model,
    ANTHROPIC_API_KEY: 'conformance-key',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    // Tool search as a user has it (on): baton's entry asks Claude Code to load its tools always.
    ...(o.toolSearch === false ? { ENABLE_TOOL_SEARCH: 'false' } : {}),
    HTTPS_PROXY: proxy,
    HTTP_PROXY: proxy,
    ALL_PROXY: proxy,
    https_proxy: proxy,
    http_proxy: proxy,
    NO_PROXY: '127.0.0.1',
    no_proxy: '127.0.0.1',
  });
}

// ---------------------------------------------------------------- one run of the client

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The stream-json messages on stdout. */
  events: any[];
  /** The loop's requests, in order. */
  loop: Recorded[];
  /** Every request the model server got. */
  all: Recorded[];
  script: AnthropicScript;
  /** What reached the proxy catcher (requests meant for anything but the model server). */
  escaped: string[];
  /** How long the client ran. */
  ms: number;
  /** Claude Code's debug log of the run (--debug-file). */
  debug: string;
}

interface RunOptions {
  prompt?: string;
  /** false: turn Claude Code's MCP tool search off (it is on by default, and defers tools behind ToolSearch). */
  toolSearch?: boolean;
}

async function runClaude(p: Project, steps: Step[], o: RunOptions = {}): Promise<Run> {
  const script = new AnthropicScript(steps);
  const server = new ModelServer(script.handler);
  const url = await server.start();
  const trap = await catcher();
  const env = clientEnv(p.home, url, trap.url, o);
  // Permissions as a user gives them to a headless run: baton's MCP tools, and baton on the shell.
  const args = ['-p', o.prompt ?? 'Work on the board.', '--output-format', 'stream-json', '--verbose', '--include-hook-events', '--allowedTools', 'mcp__baton', 'Bash(npx baton:*)'];
  // Its debug log says when baton's MCP server connected, against when the first turn started.
  args.push('--debug-file', debugLog(p));
  const started = Date.now();
  const r = await runClient(CLAUDE, args, { cwd: p.root, env, timeoutMs: RUN_MS });
  const events: any[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      events.push({ type: 'unparsed', line });
    }
  }
  server.stop();
  const debug = existsSync(debugLog(p)) ? readFileSync(debugLog(p), 'utf8') : '';
  const run = { ...r, ms: Date.now() - started, events, loop: script.loop, all: server.requests, script, escaped: trap.seen, debug };
  keep(run, p);
  return run;
}

/** With CONFORMANCE_KEEP=DIR, each run's requests, stdout and stderr are written under DIR (for a report). */
function keep(run: Run, p: Project): void {
  const dir = process.env.CONFORMANCE_KEEP;
  if (!dir) return;
  const name = (expect.getState().currentTestName ?? 'run').replace(/[^a-z0-9]+/gi, '-').slice(0, 80);
  let out = join(dir, name);
  for (let i = 2; existsSync(out); i++) out = join(dir, `${name}-${i}`);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'requests.jsonl'), run.all.map((r) => JSON.stringify({ loop: run.loop.indexOf(r), method: r.method, path: r.path, headers: r.headers, body: r.body })).join('\n'));
  writeFileSync(join(out, 'stdout.jsonl'), run.stdout);
  writeFileSync(join(out, 'stderr.txt'), run.stderr);
  writeFileSync(join(out, 'escaped.txt'), run.escaped.join('\n'));
  writeFileSync(join(out, 'claude-debug.log'), run.debug);
  writeFileSync(join(out, 'events.jsonl'), readFileSync(join(p.root, 'project-plan', 'events.jsonl')));
}

const debugLog = (p: Project) => join(p.home, 'claude-debug.log');

/** When baton's MCP server connected, and when the first turn started and was sent, from the client's debug log. */
const mcpTiming = (debug: string) =>
  debug
    .split('\n')
    .filter((l) => /MCP server "baton": (Starting connection|Successfully connected)|\[engine\] turn 1 start|\[API REQUEST\]/.test(l))
    .slice(0, 6)
    .join('\n');

/**
 * A step that waits, if it must, for baton's MCP server to have connected before it answers: the
 * first request can come before the server is up (see the first-request case), and a step that
 * calls an MCP tool answers as a slower model would, once the tool is there to run.
 */
function afterMcp(p: Project, step: Step): Step {
  return meanwhile(async (ctx) => {
    if (requestText(ctx.req).includes('mcp__baton__') || toolNames(ctx.req).some((n) => n.startsWith('mcp__baton__'))) return;
    for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      if (existsSync(debugLog(p)) && readFileSync(debugLog(p), 'utf8').includes('MCP server "baton": Successfully connected')) return;
    }
    throw new Error("baton's MCP server did not connect within 30 s of the request");
  }, step);
}

/** What every run must show: it ended by itself, only the model server was asked, nothing about baton went wrong. */
function expectClean(run: Run): void {
  const why = explain(run);
  expect(run.signal, `the run was killed (timeout ${RUN_MS} ms)\n${why}`).toBeNull();
  expect(run.script.errors.map((e) => e.message), why).toEqual([]);
  expect(run.escaped, 'requests meant for another host than the model server').toEqual([]);
  expect(run.stderr.split('\n').filter((l) => /baton/i.test(l)), 'lines about baton on the client stderr').toEqual([]);
  const hookTrouble = run.events.filter((e) => e.type === 'system' && e.subtype === 'hook_response' && (e.exit_code !== 0 || e.outcome !== 'success' || (e.stderr ?? '').trim()));
  expect(hookTrouble, 'hooks that failed or wrote to stderr').toEqual([]);
  // (Not an error: 'MCP server "baton": SIGINT failed, sending SIGTERM' at exit, which only says the server was still leaving.)
  const trouble = run.debug.split('\n').filter((l) => (/\[ERROR\]/.test(l) && /baton/i.test(l)) || /MCP server "baton".*(connection failed|failed to connect|timed out|error)/i.test(l));
  expect(trouble, 'errors about baton in the client debug log').toEqual([]);
}

/** A summary of a run for a failed assertion: the requests' new text and tool results, the stderr. */
function explain(run: Run): string {
  const lines = [`exit ${run.code}${run.signal ? ` (${run.signal})` : ''} after ${run.ms} ms, ${run.loop.length} loop requests, ${run.all.length - run.loop.length} others: ${run.script.side.map((r) => `${r.method} ${r.path}`).join(', ') || 'none'}`];
  run.loop.forEach((r, i) => lines.push(`--- loop request ${i}: tools [${toolNames(r).filter((n) => n.startsWith('mcp__')).join(', ')}]\n${tail(requestText(r), 1500)}`));
  lines.push(`--- MCP timing (client debug log)\n${mcpTiming(run.debug)}`);
  lines.push(`--- stderr\n${run.stderr.slice(-3000)}`);
  return lines.join('\n');
}

const tail = (s: string, n: number) => (s.length > n ? `…${s.slice(-n)}` : s);

// ---------------------------------------------------------------- board helpers

/** Adds a task that needs no review (so `done` finishes it), as a person does before the agent starts. */
function addTask(p: Project, title: string): string {
  const doc = JSON.parse(p.sh(`npx baton add ${JSON.stringify(title)} --no-review --json`)) as { task: { id: string } };
  return doc.task.id;
}

function boardEvents(p: Project): any[] {
  return readFileSync(join(p.root, 'project-plan', 'events.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** The baton binding of the Claude Code session that sent this request (while it lives): its session and token. */
function bindingOf(p: Project, req: Recorded): { session: string; token: string; agent: string } {
  const id = req.headers['x-claude-code-session-id'];
  const bindings = JSON.parse(readFileSync(join(p.root, 'project-plan', 'hook-sessions.json'), 'utf8')) as Record<string, { session: string; token: string; agent: string }>;
  const b = bindings[`claude:${id}`];
  if (!b) throw new Error(`no baton binding for Claude Code session ${String(id)} (bindings: ${Object.keys(bindings).join(', ') || 'none'})`);
  return b;
}

/** Sessions the run left on the board that have not ended. */
const liveSessions = (p: Project) => Object.values(boardState(p.root).sessions as Record<string, { id: string; agent: string; ended_at: string | null }>).filter((s) => s.ended_at === null);

// ---------------------------------------------------------------- the cases

describe('baton inside Claude Code', () => {
  it('sets up as the README says; `claude mcp list` in the project shows baton connected', () => {
    const p = setUp();
    // No model server is needed; the proxy is a closed port, so nothing leaves either.
    const list = p.sh(`${CLAUDE} mcp list`, clientEnv(p.home, 'http://127.0.0.1:9', 'http://127.0.0.1:9'));
    expect(list).toMatch(/^baton: node node_modules\/baton-board\/bin\/baton\.cjs mcp - ✔ Connected$/m);
  });

  // `claude -p` does not wait for a stdio server that is still starting before its first request:
  // baton's server answers initialize and tools/list before it loads the MCP SDK (front.ts).
  for (const toolSearch of [true, false]) {
    it(`baton's tools are in the first request's tools (tool search ${toolSearch ? 'on, as by default: the entry loads them always' : 'off'})`, async () => {
      const p = setUp();
      addTask(p, 'First task');
      const run = await runClaude(p, [say('I have looked at the board.')], { toolSearch });
      expectClean(run);
      expect(run.code, explain(run)).toBe(0);
      const init = run.events.find((e) => e.type === 'system' && e.subtype === 'init');
      expect(init?.mcp_servers, `the MCP servers as the client says at init\n${mcpTiming(run.debug)}`).toEqual([{ name: 'baton', status: 'connected', source: 'project' }]);
      expect(toolNames(run.loop[0]!), explain(run)).toEqual(expect.arrayContaining(['mcp__baton__next', 'mcp__baton__claim', 'mcp__baton__done', 'mcp__baton__release', 'mcp__baton__handoff', 'mcp__baton__inbox', 'mcp__baton__send', 'mcp__baton__status', 'mcp__baton__show', 'mcp__baton__heartbeat']));
    });
  }

  it('the primer `baton prime` prints is in the first request', async () => {
    const p = setUp();
    const id = addTask(p, 'First task');
    let primer = '';
    const run = await runClaude(p, [
      // While the first request waits: what `baton prime` says for the session the hooks bound.
      meanwhile((ctx) => {
        const b = bindingOf(p, ctx.req);
        primer = p.sh('npx baton prime', { BATON_SESSION: b.session, BATON_TOKEN: b.token }).trim();
      }, say('I have read the primer.')),
    ]);
    expectClean(run);
    expect(run.code, explain(run)).toBe(0);
    // Commands as the agent's shell runs them here (baton is a dependency of the project).
    expect(primer).toContain(`npx baton-board claim ${id}`);
    expect(requestText(run.loop[0]!), explain(run)).toContain(primer);
  });

  it('next → claim → done over MCP: each result reaches the model, and the board agrees', async () => {
    const p = setUp();
    const id = addTask(p, 'Round trip');
    const run = await runClaude(p, [
      afterMcp(p, call('mcp__baton__next')),
      // The next step is what `next` said, as a model reads it: the tool call it names.
      call('mcp__baton__claim', (ctx) => lastJson(ctx).tool.arguments),
      call('mcp__baton__done', (ctx) => ({ id: lastJson(ctx).task.id, notes: 'done by the conformance script' })),
      say('The task is done.'),
    ]);
    expectClean(run);
    expect(run.code, explain(run)).toBe(0);
    expect(run.loop.length, explain(run)).toBe(4);
    expect(resultsOf(run, 1), explain(run)).toMatchObject([{ name: 'mcp__baton__next', isError: false, json: { ok: true, action: 'claim', task: { id }, tool: { name: 'claim', arguments: { id } } } }]);
    expect(resultsOf(run, 2)).toMatchObject([{ name: 'mcp__baton__claim', isError: false, json: { ok: true, task: { id, status: 'in_progress' } } }]);
    expect(resultsOf(run, 3)).toMatchObject([{ name: 'mcp__baton__done', isError: false, json: { ok: true, task: { id, status: 'done' } } }]);
    expect(boardState(p.root).tasks[id].status).toBe('done');
    const ev = boardEvents(p).filter((e) => e.task === id);
    const claimed = ev.find((e) => e.type === 'task.claimed');
    const finished = ev.find((e) => e.type === 'task.done');
    expect(claimed?.session, JSON.stringify(ev)).toBeTruthy();
    expect(finished?.session, JSON.stringify(ev)).toBe(claimed.session);
    expect(liveSessions(p), 'sessions left open after the client exited').toEqual([]);
  });

  it('a message sent mid-task reaches the next request (PostToolUse)', async () => {
    const p = setUp();
    const id = addTask(p, 'Long task');
    const lead = leadSession(p);
    const text = `Heads up from the lead ${Date.now().toString(36)}: the API changed.`;
    const run = await runClaude(p, [
      afterMcp(p, call('mcp__baton__claim', { id })),
      // The claim's answer is in; before the model's next tool call goes back, another process sends a message.
      meanwhile(() => {
        // To the agent the board shows for this client (its MCP server, hooks and shell are that one agent).
        p.sh(`npx baton send --to agent:claude ${JSON.stringify(text)}`, lead);
      }, call('mcp__baton__show', { id })),
      call('mcp__baton__done', { id }),
      say('Done, and I saw the message.'),
    ]);
    expectClean(run);
    expect(run.code, explain(run)).toBe(0);
    expect(run.loop.length, explain(run)).toBeGreaterThanOrEqual(3);
    expect(requestText(run.loop[1]!), 'the message is not in the request it was sent during').not.toContain(text);
    expect(run.script.fresh[2], explain(run)).toContain(text);
  });

  it('a stop is refused while a task claimed over the shell is held, and allowed once it is done', async () => {
    const p = setUp();
    const id = addTask(p, 'Shell task');
    let bound = '';
    const run = await runClaude(p, [
      meanwhile((ctx) => {
        bound = bindingOf(p, ctx.req).session;
      }, bash(`npx baton claim ${id} --json`)),
      say('I am finished.'),
      // The Stop hook refused: its reason is in this request. Finish the task, then stop again.
      bash(`npx baton done ${id} --notes "finished after the stop hook" --json`),
      say('Now I am finished.'),
    ]);
    expectClean(run);
    expect(run.code, explain(run)).toBe(0);
    expect(run.loop.length, explain(run)).toBe(4);
    expect(resultsOf(run, 1), explain(run)).toMatchObject([{ name: 'Bash', isError: false, json: { ok: true, task: { id, status: 'in_progress' } } }]);
    expect(run.script.fresh[2], explain(run)).toContain(`You still hold ${id}`);
    expect(run.script.fresh[2]).toContain(`npx baton-board done ${id}`);
    expect(resultsOf(run, 3), explain(run)).toMatchObject([{ name: 'Bash', isError: false, json: { ok: true, task: { id, status: 'done' } } }]);
    expect(boardState(p.root).tasks[id].status).toBe('done');
    const ev = boardEvents(p);
    const claimed = ev.find((e) => e.task === id && e.type === 'task.claimed');
    expect(claimed?.session, 'the shell claimed as the session the hooks bound (through the env file)').toBe(bound);
    expect(ev.find((e) => e.task === id && e.type === 'task.done')?.session).toBe(bound);
  });

  // SPEC §12, §15: the MCP server and the hooks act as one baton session.
  it('one client session is one baton session: a task claimed over MCP holds the stop, as the hooks see it', async () => {
    const p = setUp();
    const id = addTask(p, 'Claimed over MCP');
    let bound = '';
    const run = await runClaude(p, [
      meanwhile((ctx) => {
        bound = bindingOf(p, ctx.req).session;
      }, afterMcp(p, call('mcp__baton__claim', { id }))),
      say('I am finished.'),
      // The Stop hook must refuse: the task this client session claimed is still held.
      call('mcp__baton__done', { id }),
      say('Now I am finished.'),
    ]);
    expectClean(run);
    expect(run.code, explain(run)).toBe(0);
    const ev = boardEvents(p);
    const joined = ev.filter((e) => e.type === 'session.joined').map((e) => `${e.session} (${e.data.agent})`);
    expect(joined.length, `baton sessions this one client session joined: ${joined.join(', ')}`).toBe(1);
    const claimed = ev.find((e) => e.task === id && e.type === 'task.claimed');
    expect(claimed?.session, 'the session that claimed over MCP is the one the hooks bound').toBe(bound);
    expect(run.script.fresh[2], explain(run)).toContain(`You still hold ${id}`);
    expect(boardState(p.root).tasks[id].status).toBe('done');
  });

  it('when the client exits, its sessions end and what they held goes back to the queue', async () => {
    const p = setUp();
    const overMcp = addTask(p, 'Held over MCP');
    const overShell = addTask(p, 'Held over the shell');
    const run = await runClaude(p, [
      afterMcp(p, call('mcp__baton__claim', { id: overMcp })),
      bash(`npx baton claim ${overShell} --json`),
      say('Stopping here.'),
      // The Stop hook held the turn once (stop_hook_active now): the client lets it end.
      say('Stopping anyway.'),
    ]);
    expectClean(run);
    expect(run.code, explain(run)).toBe(0);
    expect(resultsOf(run, 1)).toMatchObject([{ name: 'mcp__baton__claim', isError: false, json: { ok: true, task: { id: overMcp, status: 'in_progress' } } }]);
    expect(resultsOf(run, 2)).toMatchObject([{ name: 'Bash', isError: false, json: { ok: true, task: { id: overShell, status: 'in_progress' } } }]);
    expect(run.script.fresh[3], explain(run)).toContain(`You still hold ${overShell}`);
    expect(run.loop.length, 'the second stop (stop_hook_active) is let through').toBe(4);
    const tasks = boardState(p.root).tasks;
    expect({ [overMcp]: tasks[overMcp].status, [overShell]: tasks[overShell].status }).toEqual({ [overMcp]: 'todo', [overShell]: 'todo' });
    expect(liveSessions(p), 'sessions left open after the client exited').toEqual([]);
    // One baton session claimed both, over MCP and over the shell.
    const ev = boardEvents(p);
    expect(ev.filter((e) => e.type === 'session.joined'), explain(run)).toHaveLength(1);
    expect(new Set(ev.filter((e) => e.type === 'task.claimed').map((e) => e.session)).size).toBe(1);
  });
});

/** The tool results a loop request carries, each with its text parsed as JSON where it is JSON. */
function resultsOf(run: Run, index: number): { name: string | null; isError: boolean; text: string; json: any }[] {
  return run.script.resultsAt(index).map((r) => {
    let json: any = null;
    try {
      json = JSON.parse(r.text);
    } catch {
      json = null;
    }
    return { ...r, json };
  });
}

/** A lead's session (joined from the shell, as a person or an orchestrator does), to send messages as. */
function leadSession(p: Project): Record<string, string> {
  const doc = JSON.parse(p.sh('npx baton join --name lead --role orchestrator --json')) as { session: { id: string }; token: string };
  return { BATON_SESSION: doc.session.id, BATON_TOKEN: doc.token };
}
