import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, baseEnv, baton, FakeClient, makeBoard, readJsonl, type TestBoard, tempDir } from './helpers.js';

/**
 * One agent, one identity (SPEC §12, §15), through real processes: a stand-in client process
 * (fixtures/client.mjs) starts `baton mcp`, the hooks and shell commands as its own children, as
 * Claude Code, Codex CLI and Gemini CLI do (the conformance suite shows the same in the real
 * clients). A lost token is taken over explicitly; another session's work changes hands only by
 * --force or an orchestrator, recorded and told; an --export never half-succeeds.
 */

const hook = (event: string, client = 'claude') => `'${process.execPath}' '${BIN}' hook ${event} --client ${client}`;
const start = (c: FakeClient, sid: string, client = 'claude') => c.run(hook('session-start', client), { input: JSON.stringify({ session_id: sid, source: 'startup', hook_event_name: 'SessionStart' }) });
const stopHook = (c: FakeClient, sid: string) => c.run(hook('stop'), { input: JSON.stringify({ session_id: sid, hook_event_name: 'Stop', stop_hook_active: false }) });
const afterTool = (c: FakeClient, sid: string) => c.run(hook('post-tool-use'), { input: JSON.stringify({ session_id: sid, hook_event_name: 'PostToolUse', tool_name: 'Bash' }) });
const endHook = (c: FakeClient, sid: string) => c.run(hook('session-end'), { input: JSON.stringify({ session_id: sid, hook_event_name: 'SessionEnd', reason: 'other' }) });
/** What Claude Code gives its shell commands: CLAUDECODE=1 (no env file here: the process is the link). */
const CLAUDE = { CLAUDECODE: '1' };

const liveSessions = (board: TestBoard) => (board.json('sessions').sessions as { id: string; agent: string; state: string }[]).filter((s) => s.state !== 'ended');
const events = (board: TestBoard) => readJsonl(join(board.dir, 'events.jsonl'));

function boardWith(ids: string[], profile = 'balanced'): TestBoard {
  const board = makeBoard(['--profile', profile]);
  for (const id of ids) expect(board.run('add', `task ${id}`, '--id', id, '--no-review').code).toBe(0);
  return board;
}

describe('one client session, one baton session', () => {
  it('hooks first: the MCP server and the shell act as the session the hooks joined; the stop sees an MCP claim; a message to the agent is delivered', async () => {
    const board = boardWith(['t1', 't2']);
    const c = new FakeClient(board.root);
    const s = await start(c, 'cs-1');
    expect(s.json.hookSpecificOutput.additionalContext).toMatch(/^baton: you are claude \(worker\), session s-/);
    expect(s.json.hookSpecificOutput.additionalContext).not.toMatch(/TOKEN|export /);
    await c.mcpStart({ client: 'claude-code' });
    const claimed = await c.mcpCall('claim', { id: 't1' });
    expect(claimed).toMatchObject({ isError: false, json: { ok: true, task: { id: 't1', status: 'in_progress' } } });
    // The shell (no BATON_SESSION, no token: the process it runs under) claims as the same session.
    expect((await c.baton(['claim', 't2', '--json'], CLAUDE)).json).toMatchObject({ ok: true, task: { id: 't2' } });
    const live = liveSessions(board);
    expect(live.map((x) => x.agent)).toEqual(['claude']);
    const ev = events(board);
    expect(new Set(ev.filter((e) => e.type === 'task.claimed').map((e) => e.session))).toEqual(new Set([live[0]!.id]));
    // The stop hook sees both, whichever way they were claimed.
    const stop = (await stopHook(c, 'cs-1')).json;
    expect(stop).toMatchObject({ decision: 'block' });
    expect(stop.reason).toContain('You still hold t1');
    expect(stop.reason).toContain('You still hold t2');
    // A message to the agent the board shows reaches the model after the next tool call.
    const lead = board.json('join', '--name', 'lead', '--role', 'orchestrator');
    expect(baton(['send', '--to', 'agent:claude', 'rebase first, please'], { cwd: board.root, env: { BATON_SESSION: lead.session.id, BATON_TOKEN: lead.token } }).code).toBe(0);
    expect((await afterTool(c, 'cs-1')).json.hookSpecificOutput.additionalContext).toContain('rebase first, please');
    // MCP done, then the stop lets it go once the shell finished the other.
    expect((await c.mcpCall('done', { id: 't1', notes: 'ok' })).isError).toBe(false);
    expect((await c.baton(['done', 't2', '--notes', 'ok'], CLAUDE)).code).toBe(0);
    expect((await stopHook(c, 'cs-1')).stdout).toBe('');
    // The client goes: the session ends once (the hooks end it; the server leaves it to them).
    await endHook(c, 'cs-1');
    expect(await c.mcpStop()).toBe(0);
    expect(liveSessions(board).map((x) => x.agent)).toEqual(['lead']);
    expect(ev.filter((e) => e.type === 'session.joined')).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(board.dir, 'hook-sessions.json'), 'utf8'))).toEqual({});
  });

  it('MCP first, then the hooks; or the shell first: each joins once and the others act as it', async () => {
    const board = boardWith(['t1', 't2']);
    const a = new FakeClient(board.root);
    await a.mcpStart({ client: 'codex-mcp-client' });
    expect((await a.mcpCall('claim', { id: 't1' })).isError).toBe(false);
    await start(a, 'thread-a', 'codex');
    const stop = (await a.run(hook('stop', 'codex'), { input: JSON.stringify({ session_id: 'thread-a', stop_hook_active: false }) })).json;
    expect(stop.reason).toContain('You still hold t1');

    const b = new FakeClient(board.root);
    expect((await b.baton(['claim', 't2', '--json'], { GEMINI_CLI: '1' })).json).toMatchObject({ ok: true });
    await b.mcpStart({ client: 'gemini-cli-mcp-client' });
    expect((await b.mcpCall('next')).json).toMatchObject({ ok: true, action: 'continue', task: { id: 't2' } });
    const g = (await start(b, 'g-1', 'gemini')).json;
    expect(g.hookSpecificOutput.additionalContext).toContain('You hold t2');

    // Two clients, two agents named after their clients; one session each.
    expect(liveSessions(board).map((x) => x.agent).sort()).toEqual(['codex', 'gemini']);
    expect(events(board).filter((e) => e.type === 'session.joined')).toHaveLength(2);
  });

  it('two windows of one client on one host are two agents; a spawned child acts as its own session everywhere; a new client session in the same process is a new baton session', async () => {
    const board = boardWith(['t1', 't2', 't3']);
    const one = new FakeClient(board.root);
    const two = new FakeClient(board.root);
    await start(one, 'w-1');
    await start(two, 'w-2');
    expect(liveSessions(board).map((x) => x.agent).sort()).toEqual(['claude', 'claude-2']);
    // Four more windows starting at once: each its own name (chosen and bound in the join's transaction).
    const more = [new FakeClient(board.root), new FakeClient(board.root), new FakeClient(board.root), new FakeClient(board.root)];
    await Promise.all(more.map((c, i) => start(c, `m-${i}`)));
    expect(liveSessions(board).map((x) => x.agent).sort()).toEqual(['claude', 'claude-2', 'claude-3', 'claude-4', 'claude-5', 'claude-6']);
    await Promise.all(more.map((c, i) => endHook(c, `m-${i}`)));
    // Another client's hook that inherited Claude Code's session variable leaves Claude's binding alone.
    const codexUnder = new FakeClient(board.root);
    await codexUnder.run(hook('session-start', 'codex'), { input: JSON.stringify({ session_id: 'x-9' }), env: { CLAUDE_CODE_SESSION_ID: 'w-2' } });
    const b = JSON.parse(readFileSync(join(board.dir, 'hook-sessions.json'), 'utf8'));
    expect(b['claude:w-2'].agent).toBe('claude-2');
    expect(b['codex:x-9'].agent).toBe('codex');
    await codexUnder.run(hook('session-end', 'codex'), { input: JSON.stringify({ session_id: 'x-9' }) });
    expect((await one.baton(['claim', 't1', '--json'], CLAUDE)).json.ok).toBe(true);
    expect((await two.baton(['claim', 't2', '--json'], CLAUDE)).json.ok).toBe(true);
    expect(board.json('show', 't1').task.assignee).toBe('claude');
    expect(board.json('show', 't2').task.assignee).toBe('claude-2');

    // A child started with BATON_SESSION: its hooks, its MCP server (without the variables, as
    // Codex starts servers) and its shell all act as that session.
    const child = board.json('join', '--name', 'child', '--role', 'worker');
    const childEnv = { BATON_SESSION: child.session.id, BATON_TOKEN: child.token };
    const kid = new FakeClient(board.root);
    await kid.run(hook('session-start'), { input: JSON.stringify({ session_id: 'k-1' }), env: childEnv });
    await kid.mcpStart({ client: 'claude-code' });
    expect((await kid.mcpCall('claim', { id: 't3' })).json).toMatchObject({ ok: true });
    expect(board.json('show', 't3').task.lease.session).toBe(child.session.id);
    await kid.run(hook('session-end'), { input: JSON.stringify({ session_id: 'k-1' }), env: childEnv });
    expect(await kid.mcpStop()).toBe(0);
    expect(board.json('sessions').sessions.find((x: { id: string }) => x.id === child.session.id).state).not.toBe('ended');

    // /clear: the client session ends and a new one starts in the same process; the MCP server follows.
    await one.mcpStart({ client: 'claude-code' });
    const before = (await one.mcpCall('next')).json;
    expect(before).toMatchObject({ action: 'continue', task: { id: 't1' } });
    await endHook(one, 'w-1');
    await start(one, 'w-1b');
    const after = (await one.mcpCall('status')).json;
    expect(after.ok).toBe(true);
    const bound = JSON.parse(readFileSync(join(board.dir, 'hook-sessions.json'), 'utf8'))['claude:w-1b'].session;
    expect((await one.mcpCall('heartbeat')).json).toMatchObject({ ok: true, session: bound });
    expect(board.json('show', 't1').task.status).toBe('todo');
  });
});

describe('a lost token is not a dead end', () => {
  it('join --resume takes the earlier session of the same agent over: it ends, its leases move with an event, and every refusal on the way names the command', () => {
    // The safe profile: one task in flight per agent, so the earlier session's task blocks the next claim.
    const board = boardWith(['t1', 't2'], 'safe');
    const first = board.json('join', '--name', 'w', '--role', 'worker');
    expect(baton(['claim', 't1'], { cwd: board.root, env: { BATON_SESSION: first.session.id, BATON_TOKEN: first.token } }).code).toBe(0);
    // The token is lost: the same agent joins again.
    const again = board.json('join', '--name', 'w', '--role', 'worker');
    const env = { BATON_SESSION: again.session.id, BATON_TOKEN: again.token };
    const next = baton(['next', '--json'], { cwd: board.root, env }).json;
    expect(next).toMatchObject({ ok: true, action: 'take-over', task: { id: 't1' }, command: 'baton join --name w --resume' });
    expect(next.reason).toContain(`Your earlier session ${first.session.id} holds t1`);
    const doneRefused = baton(['done', 't1', '--json'], { cwd: board.root, env }).json;
    expect(doneRefused.error).toMatchObject({ code: 'LEASE_CONFLICT', hint: 'baton join --name w --resume' });
    const claimRefused = baton(['claim', 't2', '--json'], { cwd: board.root, env }).json;
    expect(claimRefused.error).toMatchObject({ code: 'LIMIT_REACHED', hint: 'baton join --name w --resume' });

    const resumed = board.json('join', '--name', 'w', '--role', 'worker', '--resume');
    expect(resumed.taken_over).toEqual([
      { session: first.session.id, tasks: ['t1'] },
      { session: again.session.id, tasks: [] },
    ]);
    expect(board.json('show', 't1').task).toMatchObject({ status: 'in_progress', assignee: 'w', lease: { session: resumed.session.id } });
    const ev = events(board);
    expect(ev.find((e) => e.type === 'task.taken_over')).toMatchObject({ task: 't1', data: { from_session: first.session.id, to_session: resumed.session.id } });
    expect(ev.filter((e) => e.type === 'session.ended').map((e) => e.data.reason)).toEqual([`taken over by ${resumed.session.id}`, `taken over by ${resumed.session.id}`]);
    expect(ev.some((e) => e.type === 'task.released' || e.type === 'session.released')).toBe(false);
    expect(baton(['done', 't1', '--notes', 'finished'], { cwd: board.root, env: { BATON_SESSION: resumed.session.id, BATON_TOKEN: resumed.token } }).code).toBe(0);
  });

  it('inside a client: a restarted client takes its dead predecessor’s work over into its own session, with no token shown', async () => {
    const board = boardWith(['t1', 't2'], 'safe');
    const old = new FakeClient(board.root);
    await start(old, 'old');
    expect((await old.baton(['claim', 't1', '--json'], CLAUDE)).json.ok).toBe(true);
    await old.kill(); // SIGKILL: no session end, so the session stays on, holding t1
    const fresh = new FakeClient(board.root);
    const primer = (await start(fresh, 'new')).json.hookSpecificOutput.additionalContext;
    expect(primer, 'the name is free again: its client is gone').toMatch(/you are claude \(worker\)/);
    await fresh.mcpStart({ client: 'claude-code' });
    const next = (await fresh.mcpCall('next')).json;
    expect(next).toMatchObject({ action: 'take-over', command: 'baton join --name claude --resume' });
    // A plain join under the client would be a second agent with its token in the context: refused.
    const plain = await fresh.baton(['join', '--name', 'claude', '--role', 'worker', '--json'], CLAUDE);
    expect(plain.json.error).toMatchObject({ code: 'ALREADY_JOINED', hint: expect.stringContaining('baton join --name claude --resume') });
    // As Claude Code's shell runs it: with the session its env file names.
    const bound = JSON.parse(readFileSync(join(board.dir, 'hook-sessions.json'), 'utf8'))['claude:new'];
    const r = await fresh.baton(['join', '--name', 'claude', '--role', 'worker', '--resume', '--json'], { ...CLAUDE, BATON_SESSION: bound.session, BATON_TOKEN: bound.token });
    expect(r.json).toMatchObject({ ok: true, token: null, reused: true, session: { id: bound.session } });
    expect(r.stdout).not.toMatch(/"token":"/);
    expect((await fresh.mcpCall('done', { id: 't1', notes: 'picked up' })).json).toMatchObject({ ok: true, task: { id: 't1', status: 'done' } });
    expect(liveSessions(board)).toHaveLength(1);
  });
});

describe('interventions on held work', () => {
  it('block, unblock, cancel and release of a live session’s work need --force (or an orchestrator), name who did it and tell the holder why', () => {
    const board = boardWith(['t1', 't2', 't3'], 'throughput');
    const w = board.json('join', '--name', 'w', '--role', 'worker');
    const wEnv = { BATON_SESSION: w.session.id, BATON_TOKEN: w.token };
    for (const t of ['t1', 't2', 't3']) expect(baton(['claim', t], { cwd: board.root, env: wEnv }).code).toBe(0);
    const before = readFileSync(join(board.dir, 'state.json'), 'utf8');
    for (const args of [['block', 't1', '--reason', 'wait'], ['cancel', 't2'], ['release', 't3']]) {
      const r = board.json(...args);
      expect(r.error, args.join(' ')).toMatchObject({ code: 'NOT_YOURS' });
      expect(r.error.message).toContain("is w's work");
      expect(r.error.hint).toContain('--force');
      expect(r._code).toBe(3);
    }
    expect(readFileSync(join(board.dir, 'state.json'), 'utf8')).toBe(before);

    expect(board.json('block', 't1', '--reason', 'the API changed', '--force').task.status).toBe('blocked');
    const blocked = events(board).find((e) => e.type === 'task.blocked')!;
    expect(blocked.actor).toMatch(/^.+@.+$/);
    expect(blocked.data).toMatchObject({ forced: true, holder: { agent: 'w', session: w.session.id }, by: { agent: null, session: null } });
    const inbox = baton(['inbox', '--json'], { cwd: board.root, env: wEnv }).json;
    expect(inbox.notifications.find((n: { task: string }) => n.task === 't1').text).toMatch(/t1 \("task t1"\) was blocked by .+ \(forced\): the API changed\. It is no longer yours/);
    // Still the holder's (assignee) while it lives: unblock too needs --force.
    expect(board.json('unblock', 't1').error.code).toBe('NOT_YOURS');
    expect(board.json('unblock', 't1', '--force').task.status).toBe('todo');

    // An orchestrator needs no --force, and is named.
    const o = board.json('join', '--name', 'lead', '--role', 'orchestrator');
    const oEnv = { BATON_SESSION: o.session.id, BATON_TOKEN: o.token };
    expect(baton(['cancel', 't2', '--reason', 'not needed', '--json'], { cwd: board.root, env: oEnv }).json.task.status).toBe('cancelled');
    expect(baton(['release', 't3', '--reason', 'reassigning', '--json'], { cwd: board.root, env: oEnv }).json.task.status).toBe('todo');
    const ev = events(board);
    expect(ev.find((e) => e.type === 'task.cancelled')).toMatchObject({ actor: 'lead', data: { forced: false, holder: { agent: 'w' } }, notify: { targets: ['agent:w'], priority: 'high' } });
    expect(ev.find((e) => e.type === 'task.released')).toMatchObject({ actor: 'lead', data: { reason: 'reassigning' }, notify: { targets: ['agent:w'] } });
    const texts = baton(['inbox', '--json'], { cwd: board.root, env: wEnv }).json.notifications.map((n: { text: string }) => n.text).join('\n');
    expect(texts).toContain('t2 ("task t2") was cancelled by lead (orchestrator): not needed.');
    expect(texts).toContain('t3 ("task t3") was released by lead (orchestrator): reassigning.');
    // A blocked task is nobody's to release: unblock it.
    expect(board.json('block', 't1', '--reason', 'again').task.status).toBe('blocked');
    expect(board.json('release', 't1', '--force').error).toMatchObject({ code: 'INVALID_TRANSITION', hint: 'baton unblock t1' });
    // The holder's own block is no intervention.
    expect(baton(['claim', 't3'], { cwd: board.root, env: wEnv }).code).toBe(0);
    expect(baton(['block', 't3', '--reason', 'waiting on t1', '--json'], { cwd: board.root, env: wEnv }).json.task.status).toBe('blocked');
  });
});

describe('shell integration that cannot half-succeed', () => {
  /** bash with `baton` on PATH (the built binary), as a person's shell has it. */
  const sh = (board: TestBoard, script: string) => {
    const bin = tempDir();
    writeFileSync(join(bin, 'baton'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
    return spawnSync('bash', ['-c', script], { cwd: board.root, encoding: 'utf8', env: { ...baseEnv(), PATH: `${bin}:${process.env.PATH}` } });
  };

  it('a failed --export fails the eval; every --export run twice in one shell gives the same session', () => {
    const board = makeBoard();
    const bad = sh(board, 'eval "$(baton join --name x --role boss --export)" && echo SET');
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).not.toContain('SET');
    expect(bad.stderr).toContain('--role must be worker, reviewer or orchestrator');
    const missing = baton(['join', '--export'], { cwd: board.root });
    expect([missing.code, missing.stdout]).toEqual([2, 'false\n']);

    const twice = sh(board, 'eval "$(baton join --name x --role worker --export)" && a=$BATON_SESSION && eval "$(baton join --name x --role worker --export)" && echo "$a $BATON_SESSION"');
    const [a, b] = twice.stdout.trim().split(' ');
    expect(twice.status).toBe(0);
    expect(a).toMatch(/^s-/);
    expect(b).toBe(a);

    const orch = sh(board, 'eval "$(baton orchestrator start --export)" && a=$BATON_SESSION && eval "$(baton orchestrator start --export)" && echo "$a $BATON_SESSION"');
    expect(orch.status, orch.stderr).toBe(0);
    const [o1, o2] = orch.stdout.trim().split(' ');
    expect(o2).toBe(o1);
    // Another shell: the token was shown once; the eval fails and says how out.
    const other = sh(board, 'eval "$(baton orchestrator start --export)" && echo SET');
    expect(other.status).not.toBe(0);
    expect(other.stdout).not.toContain('SET');
    expect(other.stderr).toContain('--relaunch');
  });
});

describe("the README's agent loop", () => {
  it('runs as written: it claims, finishes, waits without spinning while another agent holds the last task, and stops when the board is done', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const loop = /## The agent loop\n\n```sh\n([\s\S]*?)```/.exec(readme)![1]!;
    const board = makeBoard(['--profile', 'balanced']);
    board.run('add', 'first', '--id', 't1', '--no-review');
    board.run('add', 'second', '--id', 't2', '--no-review', '--depends-on', 't1');
    board.run('add', 'third', '--id', 't3', '--no-review');
    const other = board.json('join', '--name', 'other', '--role', 'worker');
    const otherEnv = { BATON_SESSION: other.session.id, BATON_TOKEN: other.token };
    expect(baton(['claim', 't3'], { cwd: board.root, env: otherEnv }).code).toBe(0);
    // `baton` on PATH, logging each call; `work_on` scripted: it writes the task's file.
    const bin = tempDir();
    const calls = join(bin, 'calls.log');
    writeFileSync(join(bin, 'baton'), `#!/bin/sh\necho "$*" >> '${calls}'\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
    const script = `work_on() { echo "worked on $1" > "out-$1.txt"; }\n${loop}`;
    const child = startLoop('bash', ['-c', script], { cwd: board.root, env: { ...baseEnv(), PATH: `${bin}:${process.env.PATH}` } });
    // Once the loop has done t1 and t2 and asked again, it waits (t3 is held): then t3 is finished elsewhere.
    const log = () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []);
    await until(() => {
      const l = log();
      const lastDone = l.map((x) => x.startsWith('done t2')).lastIndexOf(true);
      return lastDone >= 0 && l.slice(lastDone + 1).some((x) => x.startsWith('next'));
    });
    expect(baton(['done', 't3', '--notes', 'done elsewhere'], { cwd: board.root, env: otherEnv }).code).toBe(0);
    const code = await child.exited;
    expect(code, child.stderr()).toBe(0);
    expect(readFileSync(join(board.root, 'out-t1.txt'), 'utf8')).toBe('worked on t1\n');
    expect(readFileSync(join(board.root, 'out-t2.txt'), 'utf8')).toBe('worked on t2\n');
    const l = log();
    // One `next` per task it did, one that waited and woke to "idle": no spinning.
    expect(l.filter((x) => x.startsWith('next')), l.join('\n')).toHaveLength(3);
    expect(l.filter((x) => /^(claim|done) /.test(x))).toEqual(['claim t1', 'done t1 --notes what changed', 'claim t2', 'done t2 --notes what changed']);
    expect(l.at(-1)).toBe('leave');
    expect((board.json('sessions').sessions as { agent: string }[]).map((s) => s.agent)).toEqual(['other']);
    expect(board.json('list').tasks.map((t: { status: string }) => t.status)).toEqual(['done', 'done', 'done']);
  });
});

/** Waits for a condition the test can see (a file's content), checking every 20 ms, for at most 30 s. */
async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function startLoop(cmd: string, args: string[], o: { cwd: string; env: Record<string, string> }) {
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return { exited: new Promise<number | null>((r) => child.on('exit', (c) => r(c))), stderr: () => err };
}
