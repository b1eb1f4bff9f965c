import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { describe, expect, it, onTestFinished } from 'vitest';
import { firstExchange } from '../bench/mcp-exchange.mjs';
import { BIN, baseEnv, batonAsync, batonIn, hashTree, installInProject, makeBoard, readJsonl, type TestBoard, tempDir } from './helpers.js';

/**
 * `baton mcp` driven by the SDK's own client over stdio, the built binary as the server: both
 * protocol eras, the worker loop, refusals, the session's life, waiting, limits, and MCP agents
 * racing shell agents on one board.
 */

type Era = 'legacy' | 'modern';

interface Connected {
  client: Client;
  transport: StdioClientTransport;
  /** What the server wrote on stderr (its log). */
  stderr: () => string;
  /** Errors the client met reading the server (a stray line on stdout is one). */
  errors: Error[];
  close(): Promise<void>;
}

async function connect(cwd: string, o: { args?: string[]; env?: Record<string, string>; era?: Era; name?: string } = {}): Promise<Connected> {
  const client = new Client({ name: o.name ?? 'Test Client', version: '1.0.0' }, { versionNegotiation: { mode: o.era === 'modern' ? { pin: '2026-07-28' } : 'legacy' } });
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp', ...(o.args ?? [])], cwd, env: { ...baseEnv(), ...o.env }, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => (stderr += d));
  const errors: Error[] = [];
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await client.close();
  };
  onTestFinished(close);
  return { client, transport, stderr: () => stderr, errors, close };
}

/** Calls a tool; the answer's structured content (the CLI's --json document, or {code, message, hint}). */
async function call(c: Connected, name: string, args: Record<string, unknown> = {}, opts: { onprogress?: (p: { progress: number; total?: number }) => void; signal?: AbortSignal } = {}) {
  const r = await c.client.callTool({ name, arguments: args }, opts);
  return { error: r.isError === true, data: r.structuredContent as any, text: (r.content as { text: string }[])[0]?.text };
}

const ok = async (c: Connected, name: string, args: Record<string, unknown> = {}) => {
  const r = await call(c, name, args);
  expect(r.error, `${name}: ${r.text}`).toBe(false);
  return r.data;
};

/** Resolves when the server process has gone (the client's transport closed). */
async function serverGone(c: Connected, board: TestBoard, session: string): Promise<void> {
  await c.close();
  // leave runs before the server exits; the client's close waits for the process to end.
  expect(board.json('sessions', '--all').sessions.find((s: { id: string }) => s.id === session).state).toBe('ended');
}

const CORE = ['status', 'next', 'claim', 'done', 'release', 'heartbeat', 'handoff', 'inbox', 'send', 'show'];

describe('tools, per tier', () => {
  it('core is a worker loop of at most 10 tools; orchestrator adds planning and spawning; all adds the rest; each tool is titled, described, typed and annotated', async () => {
    const board = makeBoard();
    const sizes: Record<string, number> = {};
    const names: Record<string, string[]> = {};
    for (const tier of ['core', 'orchestrator', 'all']) {
      const c = await connect(board.root, { args: ['--tools', tier] });
      const { tools } = await c.client.listTools();
      names[tier] = tools.map((t) => t.name);
      sizes[tier] = JSON.stringify(tools).length;
      for (const t of tools) {
        expect(t.name, t.name).toMatch(/^[a-z]+(_[a-z]+)*$/);
        expect(t.title, t.name).toMatch(/^[A-Z]/);
        expect(t.description, t.name).toMatch(/^[A-Z][^\n]{3,300}[.)]$/);
        expect(t.inputSchema.type).toBe('object');
        expect(t.outputSchema?.type, t.name).toBe('object');
        // The answer, or a refusal (the CLI's {code, message, hint}): a client may check either against it.
        const [answer, refusal] = (t.outputSchema?.anyOf ?? []) as { required?: string[] }[];
        expect(answer?.required, t.name).toEqual(expect.arrayContaining(['ok', 'revision']));
        expect(refusal?.required, t.name).toEqual(['code', 'message']);
        expect(Object.keys(t.annotations ?? {}).sort(), t.name).toEqual(['destructiveHint', 'idempotentHint', 'openWorldHint', 'readOnlyHint']);
      }
      await c.close();
    }
    expect(names.core!.sort()).toEqual([...CORE].sort());
    for (const n of ['add', 'import', 'edit', 'list', 'spawn', 'ps', 'wait', 'signal', 'review', 'review_approve', 'review_reject']) expect(names.orchestrator, n).toContain(n);
    for (const n of names.core!) expect(names.orchestrator).toContain(n);
    for (const n of names.orchestrator!) expect(names.all).toContain(n);
    for (const n of ['doctor', 'events', 'sync', 'paths_check', 'inbox_ack']) expect(names.all, n).toContain(n);
    // What makes no sense as a tool: the server's own session, terminals, internals, the server itself.
    for (const n of ['join', 'leave', 'watch', 'demo', 'init', 'mcp', 'merge_driver', 'claim_next', 'review_next']) expect(names.all, n).not.toContain(n);
    // Small: the core list costs a few thousand tokens (chars/4), the peers' 25,000-50,000.
    expect(sizes.core! / 4).toBeLessThan(4000);

    // A list of names and tiers; an unknown one stops the server before it starts, with the reason.
    const c = await connect(board.root, { args: ['--tools', 'core,review_approve'] });
    expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual([...CORE, 'review_approve'].sort());
    const bad = await batonAsync(['mcp', '--tools', 'core,teleport'], { cwd: board.root });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no tier or tool named teleport');
    expect(bad.stdout).toBe('');
  });

  it("a tool's schemas are its command's: the same fields (snake case, durations in seconds), limits, and the --json answer", async () => {
    const board = makeBoard();
    const c = await connect(board.root, { args: ['--tools', 'all'] });
    const { tools } = await c.client.listTools();
    const tool = (n: string) => tools.find((t) => t.name === n)!;
    expect(Object.keys(tool('next').inputSchema.properties!).sort()).toEqual(['explain', 'watch_seconds']);
    expect(tool('next').inputSchema.properties!.watch_seconds).toMatchObject({ type: 'number', minimum: 0, maximum: 604800 });
    expect(Object.keys(tool('claim').inputSchema.properties!).sort()).toEqual(['explain', 'id', 'specialty', 'sync', 'watch_seconds']);
    expect(tool('claim').inputSchema.required ?? []).toEqual([]);
    expect(tool('done').inputSchema.required).toEqual(['id']);
    expect(tool('send').inputSchema.properties!.message).toMatchObject({ type: 'string' });
    expect(tool('add').inputSchema.properties!.estimate).toMatchObject({ exclusiveMinimum: 0, maximum: 10000 });
    expect(tool('wait').inputSchema.properties).toHaveProperty('timeout_seconds');
    expect(tool('events').inputSchema.properties).not.toHaveProperty('follow');
    expect(tool('status').annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true });
    expect(tool('cancel').annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(tool('heartbeat').annotations).toMatchObject({ readOnlyHint: false, idempotentHint: true });

    // The answer of a read is the CLI's --json document, field for field (the client checked it against the output schema).
    board.run('add', 'first', '--id', 't1');
    expect(await ok(c, 'show', { id: 't1' })).toEqual((({ _code, ...rest }) => rest)(board.json('show', 't1')));
    expect(await ok(c, 'status')).toEqual((({ _code, ...rest }) => rest)(board.json('status')));
    expect(c.errors).toEqual([]);
  });
});

describe('the worker loop over MCP', () => {
  for (const era of ['legacy', 'modern'] as const) {
    it(`next, claim, heartbeat, done, send, inbox, show, release, handoff: as the client's agent, on the ${era === 'modern' ? '2026-07-28' : '2025-11-25'} protocol`, async () => {
      const board = makeBoard(['--profile', 'throughput']);
      board.run('add', 'first', '--id', 't1', '--priority', 'P0');
      board.run('add', 'second', '--id', 't2', '--depends-on', 't1');
      board.run('add', 'third', '--id', 't3');
      const c = await connect(board.root, { era, name: `Agent ${era}` });

      // Reads need no session; the first call that acts as an agent joins, named after the client.
      expect((await ok(c, 'status')).total).toBe(3);
      expect(board.json('sessions').sessions).toHaveLength(0);
      const next = await ok(c, 'next');
      expect(next).toMatchObject({ action: 'claim', task: { id: 't1' }, tool: { name: 'claim', arguments: { id: 't1' } } });
      const sessions = board.json('sessions').sessions;
      expect(sessions).toHaveLength(1);
      expect(sessions[0].agent).toBe(`agent-${era}`);

      const claimed = await ok(c, 'claim');
      expect(claimed.task).toMatchObject({ id: 't1', status: 'in_progress', assignee: `agent-${era}` });
      expect((await ok(c, 'heartbeat')).leases.map((l: { task: string }) => l.task)).toEqual(['t1']);
      expect((await ok(c, 'next')).tool).toEqual({ name: 'done', arguments: { id: 't1' } });
      // done takes a result too: stored once under results/, the answer carries its reference.
      const finished = await ok(c, 'done', { id: 't1', notes: 'did it', result_text: '{"changed":["a.ts"],"passed":true}' });
      expect(finished.task).toMatchObject({ status: 'done', result: { kind: 'json', summary: 'JSON object with key(s): changed, passed' } });
      expect(board.json('result', 't1').text).toBe('{"changed":["a.ts"],"passed":true}');

      // A message from a shell agent reaches the inbox; ack marks it read.
      const shell = board.json('join', '--name', 'shell', '--role', 'worker');
      const shellEnv = { BATON_SESSION: shell.session.id, BATON_TOKEN: shell.token };
      expect((await batonAsync(['send', '--to', `agent:agent-${era}`, '--priority', 'high', 'please', 'look', 'at', 't3', '--json'], { cwd: board.root, env: shellEnv })).code).toBe(0);
      const inbox = await ok(c, 'inbox', { ack: true });
      expect(inbox.notifications.map((n: { text: string }) => n.text)).toContain('[from shell] please look at t3');
      expect(inbox.truncated).toBe(false);
      expect((await ok(c, 'inbox')).notifications).toEqual([]);
      expect((await ok(c, 'send', { to: 'agent:shell', message: 'on it' })).text).toBe(`[from agent-${era}] on it`);

      // claim by id, release, claim again, hand it to the shell agent, who takes it by claiming it.
      expect((await ok(c, 'claim', { id: 't3' })).task.id).toBe('t3');
      expect((await ok(c, 'release', { id: 't3', reason: 'later' })).task.status).toBe('todo');
      expect((await ok(c, 'claim', { id: 't3' })).task.id).toBe('t3');
      expect((await ok(c, 'handoff', { id: 't3', to: 'agent:shell', notes: 'half done' })).task.status).toBe('handoff');
      const shellNext = (await batonAsync(['next', '--json'], { cwd: board.root, env: shellEnv })).json;
      expect(shellNext).toMatchObject({ action: 'take-handoff', tool: { name: 'claim', arguments: { id: 't3' } } });
      const taken = await batonAsync(['claim', 't3', '--json'], { cwd: board.root, env: shellEnv });
      expect(taken.json).toMatchObject({ ok: true, task: { id: 't3', status: 'in_progress', assignee: 'shell' }, handoff: { state: 'taken' } });

      const shown = await ok(c, 'show', { id: 't1' });
      expect(shown.history.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['task.claimed', 'task.done']));
      expect(c.errors).toEqual([]);
      expect(board.json('doctor').healthy).toBe(true);
    });
  }
});

describe('refusals', () => {
  it('a refused call is an isError result carrying the CLI\'s {code, message, hint}, and nothing changes', async () => {
    const board = makeBoard();
    board.run('add', 'first', '--id', 't1');
    board.run('add', 'second', '--id', 't2', '--depends-on', 't1');
    const c = await connect(board.root, { args: ['--tools', 'all'] });
    await ok(c, 'next'); // joins
    const before = hashTree(board.dir);

    const refused = async (name: string, args: Record<string, unknown>, code: string, message: RegExp) => {
      const r = await call(c, name, args);
      expect(r.error, `${name} ${JSON.stringify(args)}`).toBe(true);
      expect(r.data, `${name} ${JSON.stringify(args)}`).toMatchObject({ code, message: expect.stringMatching(message) });
      expect(r.data).toHaveProperty('hint');
      expect(JSON.parse(r.text!)).toEqual(r.data);
    };
    await refused('claim', { id: 't2' }, 'INVALID_TRANSITION', /waits for t1/);
    await refused('next', { watch_seconds: -1 }, 'INVALID_INPUT', /watch_seconds/);
    await refused('next', { watch: 5 }, 'INVALID_INPUT', /next has no watch/);
    // What a client adds to every tool for itself (Gemini CLI's scheduler) is not the call's: taken, ignored.
    expect(await ok(c, 'show', { id: 't1', wait_for_previous: true })).toMatchObject({ task: { id: 't1' } });
    await refused('done', {}, 'INVALID_INPUT', /id/);
    await refused('claim', { id: 't1', specialty: 'docs' }, 'INVALID_INPUT', /specialty: only without id/);
    await refused('show', { id: '../../etc/passwd' }, 'INVALID_INPUT', /Invalid task id/);
    await refused('show', { id: 'nope' }, 'NOT_FOUND', /nope/);
    await refused('import', { file: '-' }, 'INVALID_INPUT', /stdin/);
    await refused('teleport', {}, 'USAGE', /No tool named teleport/);
    await refused('add', { title: 'x'.repeat(100_000) }, 'INVALID_INPUT', /title/i);
    expect(hashTree(board.dir)).toEqual(before);

    // A hand-broken state.json: the board's error, as the CLI says it.
    writeFileSync(join(board.dir, 'state.json'), '{ broken');
    await refused('status', {}, 'BOARD_CORRUPT', /state\.json/);
    expect(c.errors).toEqual([]);
  });

  it('without a board, every call says where it looked and how to make one; the server still answers', async () => {
    const cwd = tempDir();
    const c = await connect(cwd);
    const r = await call(c, 'status');
    expect(r.error).toBe(true);
    expect(r.data).toMatchObject({ code: 'NO_BOARD', hint: expect.stringContaining('baton init') });
  });
});

describe('every tool', () => {
  it('answers each call of the all tier with its result or a refusal, never an internal error (the server reads a cached, frozen state)', async () => {
    const board = makeBoard();
    board.run('add', 'first', '--id', 't1');
    board.run('add', 'second', '--id', 't2', '--depends-on', 't1');
    board.run('add', 'gate', '--id', 'g1', '--kind', 'gate', '--gate-type', 'ci', '--match', 'pr=1');
    writeFileSync(join(board.root, 'plan.json'), JSON.stringify([{ id: 'p1', title: 'planned' }]));
    const c = await connect(board.root, { args: ['--tools', 'all', '--role', 'worker'] });
    const { tools } = await c.client.listTools();
    const value: Record<string, unknown> = { id: 't1', dep: 't2', reason: 'why', notes: 'notes', file: 'plan.json', paths: ['src/x.ts'], session_or_task: 't1', role: 'worker', message: 'hello', to: 'all', cursor: 'c1' };
    const answers: Record<string, string> = {};
    // Twice: the second round meets the board the first one changed (and a cached state in between).
    for (let round = 0; round < 2; round++) {
      for (const t of tools) {
        if (['sync', 'git_install', 'git_uninstall', 'paths_infer', 'spawn', 'preflight', 'kill', 'wait'].includes(t.name)) continue; // need git or a spawn config: tested elsewhere
        const args = Object.fromEntries((t.inputSchema.required ?? []).map((k) => [k, value[k]]));
        const r = await call(c, t.name, args);
        answers[t.name] = r.error ? r.data.code : 'ok';
        expect(r.error && r.data.code === 'INTERNAL', `${t.name}: ${r.text}`).toBe(false);
      }
    }
    expect(Object.values(answers).filter((a) => a === 'ok').length, JSON.stringify(answers)).toBeGreaterThan(20);
    expect(c.stderr()).not.toMatch(/TypeError|Cannot assign|read only/);
    expect(board.json('doctor').healthy).toBe(true);
  });
});

describe('one server, one session', () => {
  it('leaves when the client closes: what it held goes back to the queue', async () => {
    const board = makeBoard();
    board.run('add', 'first', '--id', 't1');
    const c = await connect(board.root, { args: ['--name', 'closer', '--role', 'worker', '--specialty', 'docs'] });
    const claimed = await ok(c, 'claim');
    expect(claimed.task.assignee).toBe('closer');
    expect(board.json('agents').agents.find((a: { id: string }) => a.id === 'closer').specialties).toEqual(['docs']);
    const session = board.json('sessions').sessions[0].id;
    await serverGone(c, board, session);
    expect(board.json('show', 't1').task).toMatchObject({ status: 'todo', assignee: null, lease: null });
    expect(board.json('sessions', '--all').sessions[0].end_reason).toBe('left');
  });

  it('leaves when its client dies without a word (every pipe closed at once: its writes then fail with EPIPE)', async () => {
    const board = makeBoard();
    board.run('add', 'first', '--id', 't1');
    const c = await connect(board.root, { args: ['--name', 'orphan'] });
    await ok(c, 'claim');
    const child = (c.transport as unknown as { _process: import('node:child_process').ChildProcess })._process;
    const gone = new Promise((r) => child.once('close', r));
    child.stdout!.destroy();
    child.stderr!.destroy();
    child.stdin!.destroy();
    await gone;
    expect(board.json('show', 't1').task.status).toBe('todo');
    expect(board.json('sessions', '--all').sessions[0]).toMatchObject({ agent: 'orphan', state: 'ended' });
  });

  it('acts as its session for every command that can (handoffs --mine as a first call), and joins once when calls race', async () => {
    const board = makeBoard();
    const c = await connect(board.root, { args: ['--tools', 'orchestrator', '--name', 'racer'] });
    expect((await ok(c, 'handoffs', { mine: true })).handoffs).toEqual([]);
    await Promise.all([ok(c, 'next'), ok(c, 'inbox'), ok(c, 'heartbeat')]);
    expect(board.json('sessions').sessions).toHaveLength(1);
    // The board ends it (as reap does a silent session's): calls that meet that join again, once.
    const file = join(board.dir, 'state.json');
    const state = JSON.parse(readFileSync(file, 'utf8'));
    const [id] = Object.keys(state.sessions);
    Object.assign(state.sessions[id!], { ended_at: new Date().toISOString(), end_reason: 'reaped: silent' });
    writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
    const answers = await Promise.all([call(c, 'next'), call(c, 'inbox'), call(c, 'heartbeat'), call(c, 'next')]);
    expect(answers.map((a) => a.error)).toEqual([false, false, false, false]);
    const live = board.json('sessions').sessions;
    expect(live).toHaveLength(1);
    expect(live[0].id).not.toBe(id);
    expect(c.stderr().match(/joined as racer/g)).toHaveLength(2);
  });

  it('leaves when signalled (SIGTERM)', async () => {
    const board = makeBoard();
    board.run('add', 'first', '--id', 't1');
    const c = await connect(board.root, { args: ['--name', 'termed'] });
    await ok(c, 'claim');
    const transport = c.transport;
    const closed = new Promise<void>((r) => {
      const prev = transport.onclose;
      transport.onclose = () => {
        prev?.();
        r();
      };
    });
    process.kill(transport.pid!, 'SIGTERM');
    await closed;
    expect(board.json('show', 't1').task.status).toBe('todo');
    expect(c.stderr()).toContain('closed (signalled)');
  });

  it('uses BATON_SESSION/BATON_TOKEN from its environment instead of joining, and leaves that session to its owner', async () => {
    const board = makeBoard();
    board.run('add', 'first', '--id', 't1');
    const j = board.json('join', '--name', 'child', '--role', 'worker');
    const c = await connect(board.root, { env: { BATON_SESSION: j.session.id, BATON_TOKEN: j.token } });
    expect((await ok(c, 'claim')).task.assignee).toBe('child');
    expect(board.json('sessions').sessions).toHaveLength(1);
    await c.close();
    expect(board.json('sessions').sessions.map((s: { id: string }) => s.id)).toEqual([j.session.id]);
    expect(board.json('show', 't1').task.status).toBe('in_progress');
  });

  it('finds the board from --dir, BATON_DIR or its directory, and from a linked worktree the main one', async () => {
    const board = makeBoard();
    board.run('add', 'on the main board', '--id', 'main-task');
    const git = (...a: string[]) => execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...a], { cwd: board.root, stdio: 'pipe' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'board');
    git('worktree', 'add', '-q', join(board.root, 'wt'), '-b', 'side');
    const inWorktree = await connect(join(board.root, 'wt'));
    expect((await ok(inWorktree, 'status')).board).toBe(board.dir);
    const elsewhere = tempDir();
    expect((await ok(await connect(elsewhere, { args: ['--dir', board.dir] }), 'status')).board).toBe(board.dir);
    expect((await ok(await connect(elsewhere, { env: { BATON_DIR: board.dir } }), 'status')).board).toBe(board.dir);
  });
});

describe('waiting, cancelling, bounded answers, a changed board', () => {
  it('next with watch_seconds sends progress while it waits and wakes on a shell agent\'s commit; a cancelled claim stops waiting and claims nothing', async () => {
    const board = makeBoard();
    board.run('add', 'gate', '--id', 'g', '--kind', 'task');
    const c = await connect(board.root, { args: ['--name', 'waiter'] });
    expect((await ok(c, 'claim', { id: 'g' })).task.id).toBe('g');
    // Holding g, next says continue; release it to someone else's hold so next must wait.
    const other = board.json('join', '--name', 'other', '--role', 'worker');
    const otherEnv = { BATON_SESSION: other.session.id, BATON_TOKEN: other.token };
    await ok(c, 'release', { id: 'g' });
    expect((await batonAsync(['claim', 'g', '--json'], { cwd: board.root, env: otherEnv })).code).toBe(0);

    const progress: number[] = [];
    const waiting = call(c, 'next', { watch_seconds: 60 }, { onprogress: (p) => progress.push(p.progress) });
    // Wake it: once the first progress arrives, a shell agent adds work.
    while (progress.length === 0) await new Promise((r) => setImmediate(r));
    board.run('add', 'new work', '--id', 'w1');
    const woke = await waiting;
    expect(woke.data).toMatchObject({ action: 'claim', task: { id: 'w1' } });
    expect(progress.length).toBeGreaterThanOrEqual(1);

    // Nothing ready for a claim without an id: it waits; cancelled, it stops and claims nothing later.
    expect((await batonAsync(['claim', 'w1', '--json'], { cwd: board.root, env: otherEnv })).code).toBe(0);
    const abort = new AbortController();
    const seen: number[] = [];
    const cancelled = call(c, 'claim', { watch_seconds: 60 }, { signal: abort.signal, onprogress: (p) => seen.push(p.progress) }).catch((e: Error) => e);
    while (seen.length === 0) await new Promise((r) => setImmediate(r));
    abort.abort();
    expect(await cancelled).toBeInstanceOf(Error);
    // The server is free again at once (a later call is answered), and a task added now stays unclaimed.
    expect((await ok(c, 'status')).total).toBe(2);
    board.run('add', 'later', '--id', 'later');
    expect((await ok(c, 'status')).total).toBe(3);
    expect(board.json('show', 'later').task.status).toBe('todo');
  });

  it('list-like answers are cut to a limit (50 unless asked) and say so; a board changed by a shell agent is read again', async () => {
    const board = makeBoard();
    writeFileSync(join(board.root, 'plan.json'), JSON.stringify(Array.from({ length: 60 }, (_, i) => ({ id: `t${i}`, title: `task ${i}` }))));
    expect(board.run('import', 'plan.json').code).toBe(0);
    const c = await connect(board.root, { args: ['--tools', 'orchestrator'] });
    const all = await ok(c, 'list');
    expect([all.tasks.length, all.truncated]).toEqual([50, true]);
    expect(await ok(c, 'list', { limit: 5 })).toMatchObject({ truncated: true, tasks: { length: 5 } });
    expect(await ok(c, 'list', { limit: 100 })).toMatchObject({ truncated: false, tasks: { length: 60 } });
    // The CLI: every task unless --limit.
    expect(board.json('list').tasks).toHaveLength(60);
    expect(board.json('list', '--limit', '7')).toMatchObject({ truncated: true, tasks: { length: 7 } });

    // The server parses state.json again only when it changed: an edit by another process is seen.
    const before = (await ok(c, 'status')).total;
    board.run('add', 'one more', '--id', 'extra');
    expect((await ok(c, 'status')).total).toBe(before + 1);
    expect((await ok(c, 'show', { id: 'extra' })).task.title).toBe('one more');
  });
});

describe('MCP agents and shell agents on one board', () => {
  it('two MCP servers and two shell loops race for 40 tasks: each claimed once, done once, doctor clean', async () => {
    const board = makeBoard(['--profile', 'throughput']);
    writeFileSync(join(board.root, 'plan.json'), JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ id: `t${i}`, title: `task ${i}`, review: false }))));
    expect(board.run('import', 'plan.json').code).toBe(0);

    const mcpAgent = async (name: string) => {
      const c = await connect(board.root, { args: ['--name', name] });
      const problems: string[] = [];
      for (;;) {
        const r = await call(c, 'claim');
        if (r.error) {
          if (r.data.code === 'NO_WORK') break;
          if (r.data.code !== 'LEASE_CONFLICT') problems.push(`${name} claim: ${r.text}`);
          continue;
        }
        const d = await call(c, 'done', { id: r.data.task.id, lease_token: r.data.lease_token });
        if (d.error) problems.push(`${name} done: ${d.text}`);
      }
      await c.close();
      return problems;
    };
    const shellAgent = async (name: string) => {
      const j = (await batonAsync(['join', '--name', name, '--role', 'worker', '--json'], { cwd: board.root })).json;
      const env = { BATON_SESSION: j.session.id, BATON_TOKEN: j.token };
      const problems: string[] = [];
      for (;;) {
        const r = await batonAsync(['claim-next', '--json', '--lock-timeout', '60'], { cwd: board.root, env });
        if (r.code === 6) break;
        if (r.code !== 0) {
          problems.push(`${name} claim-next: ${r.stdout}`);
          continue;
        }
        const d = await batonAsync(['done', r.json.task.id, '--lease-token', r.json.lease_token, '--json', '--lock-timeout', '60'], { cwd: board.root, env });
        if (d.code !== 0) problems.push(`${name} done: ${d.stdout}`);
      }
      return problems;
    };
    const problems = (await Promise.all([mcpAgent('mcp-a'), mcpAgent('mcp-b'), shellAgent('sh-a'), shellAgent('sh-b')])).flat();
    expect(problems).toEqual([]);

    const events = readJsonl(join(board.dir, 'events.jsonl'));
    const claims = new Map<string, number>();
    for (const e of events) if (e.type === 'task.claimed') claims.set(e.task, (claims.get(e.task) ?? 0) + 1);
    expect([...claims.values()].every((n) => n === 1)).toBe(true);
    expect(claims.size).toBe(40);
    const done = events.filter((e) => e.type === 'task.done');
    // On a failure, the log of each task claimed and not done, to tell a lost event from a lost write.
    const undone = [...claims.keys()].filter((id) => !done.some((e) => e.task === id));
    const story = undone.map((id) => `${id}: ${events.filter((e) => e.task === id).map((e) => `#${e.seq} ${e.type} by ${e.actor}`).join(', ')}; board: ${board.json('show', id).task?.status}`).join('\n');
    expect(new Set(done.map((e) => e.task)).size, story).toBe(40);
    expect(done).toHaveLength(40);
    const byAgent = new Set(events.filter((e) => e.type === 'task.claimed').map((e) => e.actor));
    expect([...byAgent].some((a) => a.startsWith('mcp-'))).toBe(true);
    expect(board.json('list').tasks.every((t: { status: string }) => t.status === 'done')).toBe(true);
    expect(board.json('doctor').healthy).toBe(true);
    // Both servers left: no live session holds anything.
    expect(board.json('sessions').sessions.filter((s: { agent: string }) => s.agent.startsWith('mcp-'))).toEqual([]);
  });
});

describe('the server\'s start', () => {
  /** One server driven by hand, as a client's first exchange goes: initialize, initialized, tools/list, ping, one call; each answer's result or error. */
  async function exchange(cwd: string, version: string, env: Record<string, string>): Promise<Record<number, any>> {
    const then = [{ method: 'tools/list' }, { method: 'ping' }, { method: 'tools/call', params: { name: 'status', arguments: {} } }];
    const { messages } = await firstExchange({ bin: BIN, cwd, env: { ...baseEnv(), ...env }, version, client: 'start-test', then });
    return Object.fromEntries(Object.entries(messages).map(([id, m]) => [id, m.error ?? m.result]));
  }

  it('answers initialize, tools/list and ping before it loads the SDK exactly as the SDK does, at every protocol revision, and then serves calls', async () => {
    const board = makeBoard();
    for (const version of ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07', '1999-01-01']) {
      const [fast, sdk] = await Promise.all([exchange(board.root, version, {}), exchange(board.root, version, { BATON_MCP_PREBUILT: '0' })]);
      expect(fast[1], version).toEqual(sdk[1]);
      expect(fast[2], version).toEqual(sdk[2]);
      expect(fast[3], version).toEqual({});
      expect(fast[2].tools.map((t: { name: string }) => t.name), version).toContain('next');
      expect(fast[4].structuredContent, version).toMatchObject({ ok: true, board: board.dir });
      expect(fast[4].isError, version).toBeUndefined();
    }
  });
});

describe('mcp config and init --mcp', () => {
  it('writes each client\'s project file, merged into what is there and keeping its comments, idempotent; the project\'s own baton when it has one, else baton-board; --print writes nothing; a file that is not JSON is left alone', async () => {
    const root = tempDir();
    // No baton in the project: the global command, a name no other package has.
    expect((await batonIn(['init', '--name', 'cfg', '--mcp', 'claude', '--json'], { cwd: root })).json).toMatchObject({ ok: true, mcp_config: '.mcp.json' });
    // Claude Code loads baton's tools always (not deferred behind its tool search).
    expect(JSON.parse(readFileSync(join(root, '.mcp.json'), 'utf8'))).toEqual({ mcpServers: { baton: { type: 'stdio', command: 'baton-board', args: ['mcp'], alwaysLoad: true } } });
    expect(JSON.parse(readFileSync(join(root, 'project-plan', 'mcp-host-config.json'), 'utf8'))).toEqual({ mcpServers: { baton: { command: 'baton-board', args: ['mcp'] } } });

    // baton installed in the project (what `npm install -D` of a checkout makes): its own copy, by its path from the root.
    installInProject(root);
    const server = { command: 'node', args: ['node_modules/baton-board/bin/baton.cjs', 'mcp'] };
    // What is there stays: other servers, other keys, comments (JSONC and TOML), trailing commas, indentation.
    writeFileSync(join(root, '.mcp.json'), JSON.stringify({ mcpServers: { other: { command: 'x' }, baton: { type: 'stdio', command: 'baton-board', args: ['mcp'], alwaysLoad: true } }, extra: 1 }));
    execFileSync('mkdir', ['-p', join(root, '.codex'), join(root, '.vscode'), join(root, '.gemini')]);
    writeFileSync(join(root, '.vscode', 'mcp.json'), '{\n\t// the servers of this workspace\n\t"servers": {\n\t\t"other": { "command": "x" }, // keep me\n\t},\n\t"inputs": [],\n}\n');
    writeFileSync(join(root, '.gemini', 'settings.json'), '{\n    /* the theme */\n    "ui": { "theme": "dark" }\n}\n');
    writeFileSync(join(root, '.codex', 'config.toml'), '# my settings\nmodel = "o5"\n\n[mcp_servers.other]\ncommand = "x"\n\n[mcp_servers.baton]\ncommand = "old"\n\n[mcp_servers.baton.env]\nA = "1"\n\n# the fast profile\n[profiles.fast]\nmodel = "m"\n');
    const jsonc = (t: string) => JSON.parse(t.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, '').replace(/,(\s*[}\]])/g, '$1'));
    const cases: Record<string, [string, (text: string) => void]> = {
      claude: ['.mcp.json', (t) => expect(JSON.parse(t)).toEqual({ mcpServers: { other: { command: 'x' }, baton: { type: 'stdio', ...server, alwaysLoad: true } }, extra: 1 })],
      cursor: ['.cursor/mcp.json', (t) => expect(JSON.parse(t)).toEqual({ mcpServers: { baton: server } })],
      gemini: [
        '.gemini/settings.json',
        (t) => {
          // Edited as VS Code edits settings (its own parser): baton's key first, in the file's
          // indentation; the rest, comment and all, as it was.
          expect(t.startsWith('{\n    "mcpServers": {\n        "baton": {')).toBe(true);
          expect(t.endsWith('},\n    /* the theme */\n    "ui": { "theme": "dark" }\n}\n')).toBe(true);
          expect(jsonc(t)).toEqual({ ui: { theme: 'dark' }, mcpServers: { baton: server } });
        },
      ],
      vscode: [
        '.vscode/mcp.json',
        (t) => {
          expect(t).toContain('\t// the servers of this workspace\n');
          expect(t).toContain('"other": { "command": "x" }, // keep me\n');
          expect(jsonc(t)).toEqual({ servers: { other: { command: 'x' }, baton: { type: 'stdio', ...server } }, inputs: [] });
        },
      ],
      codex: [
        '.codex/config.toml',
        (t) => expect(t).toBe('# my settings\nmodel = "o5"\n\n[mcp_servers.other]\ncommand = "x"\n\n[mcp_servers.baton]\ncommand = "node"\nargs = [ "node_modules/baton-board/bin/baton.cjs", "mcp" ]\nrequired = true\n\n[mcp_servers.baton.env]\nA = "1"\n\n# the fast profile\n[profiles.fast]\nmodel = "m"\n'),
      ],
    };
    for (const [client, [file, check]] of Object.entries(cases)) {
      const printed = await batonIn(['mcp', 'config', '--client', client, '--print'], { cwd: root });
      expect(printed.code).toBe(0);
      const first = await batonIn(['mcp', 'config', '--client', client, '--json'], { cwd: root });
      expect(first.json, client).toMatchObject({ ok: true, client, file, changed: true, written: true });
      const text = readFileSync(join(root, file), 'utf8');
      expect(printed.stdout.trimEnd(), client).toBe(text.trimEnd());
      check(text);
      const again = await batonIn(['mcp', 'config', '--client', client, '--json'], { cwd: root });
      expect(again.json, client).toMatchObject({ changed: false, written: false });
      expect(readFileSync(join(root, file), 'utf8')).toBe(text);
    }
    expect(JSON.parse(readFileSync(join(root, 'project-plan', 'mcp-host-config.json'), 'utf8'))).toEqual({ mcpServers: { baton: server } });
    // No path of this machine in any of them.
    for (const [file] of Object.values(cases)) expect(readFileSync(join(root, file), 'utf8')).not.toContain(root);

    // Not JSON even with comments: refused with the line, nothing written.
    writeFileSync(join(root, '.vscode', 'mcp.json'), '{\n  "servers": {\n    "x": \n}');
    const refused = await batonIn(['mcp', 'config', '--client', 'vscode', '--json'], { cwd: root });
    expect([refused.code, refused.json.error.code]).toEqual([2, 'INVALID_INPUT']);
    expect(refused.json.error.message).toMatch(/^\.vscode\/mcp\.json:4 is not JSON/);
    expect(readFileSync(join(root, '.vscode', 'mcp.json'), 'utf8')).toBe('{\n  "servers": {\n    "x": \n}');
    expect((await batonIn(['mcp', 'config', '--client', 'emacs', '--json'], { cwd: root })).json.error.code).toBe('INVALID_INPUT');
    const fresh = tempDir();
    const refusedInit = await batonIn(['init', '--mcp', 'emacs', '--json'], { cwd: fresh });
    expect(refusedInit.code).toBe(2);
    expect(existsSync(join(fresh, 'project-plan'))).toBe(false);
    // A client file baton can't merge into stops init before it makes anything.
    writeFileSync(join(fresh, '.mcp.json'), '{ "mcpServers": [ }');
    expect((await batonIn(['init', '--mcp', 'claude', '--json'], { cwd: fresh })).json.error.code).toBe('INVALID_INPUT');
    expect(existsSync(join(fresh, 'project-plan'))).toBe(false);
  });

  it("brings an older baton entry up to date keeping the user's flags and env, and points a server at a board that is not project-plan/", async () => {
    const root = tempDir();
    expect((await batonIn(['init', '--dir', '.baton', '--json'], { cwd: root })).code).toBe(0);
    installInProject(root);
    const script = 'node_modules/baton-board/bin/baton.cjs';
    // The board lives in .baton/: the server is told so.
    expect((await batonIn(['mcp', 'config', '--client', 'cursor', '--dir', '.baton', '--json'], { cwd: root })).json.changed).toBe(true);
    expect(JSON.parse(readFileSync(join(root, '.cursor', 'mcp.json'), 'utf8')).mcpServers.baton).toEqual({ command: 'node', args: [script, 'mcp', '--dir', '.baton'] });
    expect(JSON.parse(readFileSync(join(root, '.baton', 'mcp-host-config.json'), 'utf8')).mcpServers.baton.args).toEqual([script, 'mcp', '--dir', '.baton']);
    // A server started as the client starts it (in the project) finds that board.
    const c = await connect(root, { args: ['--dir', '.baton'] });
    expect((await ok(c, 'status')).board).toBe(join(root, '.baton'));

    // Entries an older baton wrote (npx, an absolute path, the bare command): the user's flags and env stay.
    for (const old of [
      { command: 'npx', args: ['baton', 'mcp', '--dir', '.baton', '--tools', 'orchestrator'] },
      { command: 'node', args: ['/home/someone/baton/bin/baton.cjs', 'mcp', '--tools', 'orchestrator'] },
      { command: 'baton', args: ['mcp', '--tools', 'orchestrator', '--dir', '.baton'] },
    ]) {
      writeFileSync(join(root, '.mcp.json'), JSON.stringify({ mcpServers: { baton: { type: 'stdio', ...old, env: { BATON_AGENT_NAME: 'lead' } } } }));
      expect((await batonIn(['mcp', 'config', '--client', 'claude', '--dir', '.baton', '--json'], { cwd: root })).json.changed, old.command).toBe(true);
      const upgraded = { mcpServers: { baton: { type: 'stdio', command: 'node', args: [script, 'mcp', '--dir', '.baton', '--tools', 'orchestrator'], env: { BATON_AGENT_NAME: 'lead' }, alwaysLoad: true } } };
      expect(JSON.parse(readFileSync(join(root, '.mcp.json'), 'utf8'))).toEqual(upgraded);
      expect((await batonIn(['mcp', 'config', '--client', 'claude', '--dir', '.baton', '--json'], { cwd: root })).json.changed).toBe(false);
    }
    // One that runs something else gets baton's command, and keeps its env.
    writeFileSync(join(root, '.mcp.json'), JSON.stringify({ mcpServers: { baton: { command: 'old-baton', env: { A: '1' } } } }));
    await batonIn(['mcp', 'config', '--client', 'claude', '--dir', '.baton'], { cwd: root });
    expect(JSON.parse(readFileSync(join(root, '.mcp.json'), 'utf8')).mcpServers.baton).toEqual({ command: 'node', args: [script, 'mcp', '--dir', '.baton'], env: { A: '1' }, type: 'stdio', alwaysLoad: true });
    // A user who set it otherwise keeps that.
    writeFileSync(join(root, '.mcp.json'), JSON.stringify({ mcpServers: { baton: { type: 'stdio', command: 'node', args: [script, 'mcp', '--dir', '.baton'], alwaysLoad: false } } }));
    expect((await batonIn(['mcp', 'config', '--client', 'claude', '--dir', '.baton', '--json'], { cwd: root })).json.changed).toBe(false);

    // TOML: an older entry brought up to date with its flags, a multi-line args array replaced, a
    // dotted key or an inline table rewritten where it is; comments stay.
    execFileSync('mkdir', ['-p', join(root, '.codex')]);
    const toml = join(root, '.codex', 'config.toml');
    const want = `["${script}", "mcp", "--dir", ".baton", "--tools", "all"]`;
    const tomlCases: [string, string][] = [
      // Codex waits for a required server before its first model request: baton's tools are in it.
      ['[mcp_servers.baton] # ours\ncommand = "npx"\nargs = ["baton", "mcp", "--dir", ".baton", "--tools", "all"]\n', `[mcp_servers.baton] # ours\ncommand = "node"\nargs = ${want}\nrequired = true\n`],
      // A multi-line array keeps its layout (toml-patch edits it in place).
      ['[mcp_servers.baton]\ncommand = "node"\nargs = [\n  "/old/bin/baton.cjs",\n  "mcp", "--tools", "all",\n]\nstartup_timeout_sec = 30 # slow disk\n', `[mcp_servers.baton]\ncommand = "node"\nargs = [\n  "${script}",\n  "mcp", "--dir", ".baton", "--tools", "all",\n]\nstartup_timeout_sec = 30 # slow disk\nrequired = true\n`],
    ];
    for (const [before, after] of tomlCases) {
      writeFileSync(toml, before);
      await batonIn(['mcp', 'config', '--client', 'codex', '--dir', '.baton'], { cwd: root });
      expect(readFileSync(toml, 'utf8')).toBe(after);
      expect((await batonIn(['mcp', 'config', '--client', 'codex', '--dir', '.baton', '--json'], { cwd: root })).json.changed).toBe(false);
    }
    for (const other of ['# dotted\nmcp_servers.baton.command = "x"\n', '[mcp_servers]\n# inline\nbaton = { command = "x" }\n']) {
      writeFileSync(toml, other);
      const r = await batonIn(['mcp', 'config', '--client', 'codex', '--dir', '.baton', '--json'], { cwd: root });
      expect(r.code, other).toBe(0);
      const text = readFileSync(toml, 'utf8');
      expect(text).toContain(other.split('\n')[0]!);
      expect(text).toContain(`"${script}"`);
      expect(text).not.toContain('"x"');
    }
  });
});
