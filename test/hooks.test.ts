import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { describe, expect, it } from 'vitest';
import { baseEnv, baton, batonAsync, batonIn, FakeClient, installInProject, makeBoard, makeBoardIn, type TestBoard, tempDir } from './helpers.js';

/**
 * Inside the agent's loop: `baton prime`, `baton hooks install` for Claude Code, Codex and Gemini
 * CLI, the installed hook commands run exactly as the client runs them (`sh -c COMMAND`, the
 * client's JSON on stdin, its environment), and agent presets with fake agent executables.
 */

interface Installed {
  /** The command the client's settings hold for each of baton's events. */
  command: Record<string, string>;
}

const EVENTS: Record<string, Record<string, string>> = {
  claude: { 'session-start': 'SessionStart', 'post-tool-use': 'PostToolUse', stop: 'Stop', 'session-end': 'SessionEnd' },
  codex: { 'session-start': 'SessionStart', 'post-tool-use': 'PostToolUse', stop: 'Stop', 'session-end': 'SessionEnd' },
  gemini: { 'session-start': 'SessionStart', 'post-tool-use': 'AfterTool', stop: 'AfterAgent', 'session-end': 'SessionEnd' },
};
const FILES: Record<string, string> = { claude: '.claude/settings.json', codex: '.codex/hooks.json', gemini: '.gemini/settings.json' };

function installed(root: string, client: string): Installed {
  const settings = parseJsonc(readFileSync(join(root, FILES[client]!), 'utf8'));
  const command: Record<string, string> = {};
  for (const [event, name] of Object.entries(EVENTS[client]!)) {
    const ours = settings.hooks[name].flatMap((g: { hooks: { command: string }[] }) => g.hooks).filter((h: { command: string }) => h.command.includes(' hook '));
    expect(ours, `${client} ${name}`).toHaveLength(1);
    command[event] = ours[0].command;
  }
  return { command };
}

/** Runs a hook command as the client does: through sh, its JSON on stdin, its environment. */
function runHook(board: TestBoard, command: string, input: Record<string, unknown>, env: Record<string, string> = {}) {
  const r = spawnSync('sh', ['-c', command], { cwd: board.root, input: JSON.stringify(input), env: { ...baseEnv(), CLAUDE_PROJECT_DIR: board.root, GEMINI_PROJECT_DIR: board.root, ...env }, encoding: 'utf8' });
  let json: any = null;
  try {
    json = r.stdout.trim() ? JSON.parse(r.stdout) : null;
  } catch {
    json = undefined; // not JSON: the test fails on it
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

/** The env file as the client's shell would read it: NAME=value pairs. */
function envFromFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^export ([A-Z_]+)='(.*)'$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

describe('baton prime', () => {
  it('says who you are, what you hold with its lease, your unread count and the next command, most important first, under 2,000 characters; without a session, how to join', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'Design the schema', '--id', 'schema', '--priority', 'P0');
    await board.run('add', 'Write the API', '--id', 'api', '--depends-on', 'schema');
    const none = await board.json('prime', '--role', 'reviewer');
    expect(none).toMatchObject({ agent: null, session: null, role: 'reviewer' });
    expect(none.primer.split('\n')[1]).toContain('baton join --name NAME --role reviewer');
    expect(none.primer).toContain('baton review next');

    const w = await board.json('join', '--name', 'w1', '--role', 'worker');
    const env = { BATON_SESSION: w.session.id, BATON_TOKEN: w.token };
    const lead = await board.json('join', '--name', 'lead', '--role', 'orchestrator');
    expect((await batonIn(['claim', 'schema', '--json'], { cwd: board.root, env })).code).toBe(0);
    await batonIn(['send', '--to', 'agent:w1', '--priority', 'high', 'rebase', 'on', 'main', '--json'], { cwd: board.root, env: { BATON_SESSION: lead.session.id, BATON_TOKEN: lead.token } });
    const p = (await batonIn(['prime', '--json'], { cwd: board.root, env })).json;
    expect(p).toMatchObject({ agent: 'w1', session: w.session.id, role: 'worker', unread: 1, unread_high: 1, next: { action: 'continue' } });
    expect(p.held.map((t: { id: string }) => t.id)).toEqual(['schema']);
    const lines = p.primer.split('\n');
    expect(lines[0]).toContain(`you are w1 (worker), session ${w.session.id}`);
    expect(lines[1]).toMatch(/^You hold: schema "Design the schema" \(in_progress, lease until \S+Z, \d+m left\)/);
    expect(lines[2]).toContain('1 unread, 1 high');
    expect(lines[3]).toContain('baton done schema');
    expect(p.primer.length).toBeLessThan(2000);
    // Plain text by default: the primer itself.
    expect((await batonIn(['prime'], { cwd: board.root, env })).stdout.trimEnd()).toBe(p.primer);
    // A board with a long title and many held tasks still fits.
    for (let i = 0; i < 6; i++) await board.run('add', 'x'.repeat(300), '--id', `long${i}`, '--no-review');
    const t = await board.json('join', '--name', 'busy', '--role', 'worker');
    for (let i = 0; i < 2; i++) await batonIn(['claim', `long${i}`, '--json'], { cwd: board.root, env: { BATON_SESSION: t.session.id, BATON_TOKEN: t.token } });
    expect((await batonIn(['prime', '--json'], { cwd: board.root, env: { BATON_SESSION: t.session.id, BATON_TOKEN: t.token } })).json.primer.length).toBeLessThan(2000);
  });
});

describe('baton hooks install', () => {
  for (const client of ['claude', 'codex', 'gemini']) {
    it(`${client}: merges into the settings there, never touching other hooks; a second install changes nothing; uninstall restores the file exactly`, async () => {
      const board = await makeBoardIn();
      const file = join(board.root, FILES[client]!);
      mkdirSync(join(file, '..'), { recursive: true });
      const mine = {
        model: 'best',
        hooks: { [EVENTS[client]!['post-tool-use']!]: [{ matcher: 'Edit', hooks: [{ type: 'command', command: 'prettier --write .' }] }], Notification: [{ hooks: [{ type: 'command', command: 'notify-send hi' }] }] },
      };
      const original = `${JSON.stringify(mine, null, 2)}\n`;
      writeFileSync(file, original);
      installInProject(board.root);
      const first = await batonIn(['hooks', 'install', client, '--json'], { cwd: board.root });
      expect(first.json).toMatchObject({ ok: true, changed: true, installed: true });
      const after = readFileSync(file, 'utf8');
      const doc = JSON.parse(after);
      expect(doc.model).toBe('best');
      expect(doc.hooks.Notification).toEqual(mine.hooks.Notification);
      expect(doc.hooks[EVENTS[client]!['post-tool-use']!][0]).toEqual(mine.hooks[EVENTS[client]!['post-tool-use']!]![0]);
      const { command } = installed(board.root, client);
      // The project's own baton, by the client's project-directory variable where it has one: no path of this machine.
      const runner = { claude: 'node "$CLAUDE_PROJECT_DIR/node_modules/baton-board/bin/baton.cjs"', gemini: 'node "$GEMINI_PROJECT_DIR/node_modules/baton-board/bin/baton.cjs"', codex: 'node node_modules/baton-board/bin/baton.cjs' }[client];
      for (const [event, cmd] of Object.entries(command)) expect(cmd).toBe(`${runner} hook ${event} --client ${client}`);
      expect(after).not.toContain(board.root);
      const stop = doc.hooks[EVENTS[client]!.stop!][0].hooks[0];
      if (client === 'gemini') expect(stop).toMatchObject({ name: 'baton-stop', timeout: 10000 });
      else expect(stop).toMatchObject({ timeout: 10 });
      // Within each client's limits: Codex clamps a SessionEnd hook to 3 s (and warns at every run past it).
      expect(doc.hooks[EVENTS[client]!['session-end']!][0].hooks[0].timeout).toBe({ claude: 10, codex: 3, gemini: 10000 }[client]);
      expect((await batonIn(['hooks', 'install', client, '--json'], { cwd: board.root })).json.changed).toBe(false);
      expect(readFileSync(file, 'utf8')).toBe(after);
      expect((await batonIn(['hooks', 'install', client, '--uninstall', '--json'], { cwd: board.root })).json).toMatchObject({ changed: true, installed: false });
      expect(readFileSync(file, 'utf8')).toBe(original);
      expect((await batonIn(['hooks', 'install', client, '--uninstall', '--json'], { cwd: board.root })).json.changed).toBe(false);
    });
  }

  it('without baton in the project, the hooks run baton-board; a settings file it made is removed by uninstall; comments stay; a file that is not JSON is left alone with the reason', async () => {
    const board = await makeBoardIn();
    await batonIn(['hooks', 'install', 'claude'], { cwd: board.root });
    expect(installed(board.root, 'claude').command.stop).toBe('baton-board hook stop --client claude');
    await batonIn(['hooks', 'install', 'claude', '--uninstall'], { cwd: board.root });
    expect(existsSync(join(board.root, '.claude', 'settings.json'))).toBe(false);
    // JSON with comments, as Gemini's settings often are: the hooks go in, the comments stay, and out again.
    mkdirSync(join(board.root, '.gemini'));
    const commented = '{\n  // my theme\n  "ui": { "theme": "dark" }, /* and no more */\n}\n';
    writeFileSync(join(board.root, '.gemini', 'settings.json'), commented);
    expect((await batonIn(['hooks', 'install', 'gemini', '--json'], { cwd: board.root })).json.changed).toBe(true);
    const withHooks = readFileSync(join(board.root, '.gemini', 'settings.json'), 'utf8');
    expect(withHooks).toContain('  // my theme\n  "ui": { "theme": "dark" }, /* and no more */\n');
    expect(installed(board.root, 'gemini').command.stop).toBe('baton-board hook stop --client gemini');
    await batonIn(['hooks', 'install', 'gemini', '--uninstall'], { cwd: board.root });
    expect(readFileSync(join(board.root, '.gemini', 'settings.json'), 'utf8')).toBe(commented);
    writeFileSync(join(board.root, '.gemini', 'settings.json'), '{ "hooks": [ }');
    const r = await batonIn(['hooks', 'install', 'gemini', '--json'], { cwd: board.root });
    expect([r.code, r.json.error.code]).toEqual([2, 'INVALID_INPUT']);
    expect(readFileSync(join(board.root, '.gemini', 'settings.json'), 'utf8')).toBe('{ "hooks": [ }');
    expect((await batonIn(['hooks', 'install', 'vim', '--json'], { cwd: board.root })).json.error.code).toBe('INVALID_INPUT');
  });

  it("never takes a user's hook for its own, leaves a file with none of its hooks as it is, and refuses shapes it can't add to", async () => {
    const board = await makeBoardIn();
    const file = join(board.root, '.claude', 'settings.json');
    mkdirSync(join(board.root, '.claude'));
    const mine = {
      hooks: {
        Stop: [{ hooks: [{ type: 'command', command: 'echo "remember: baton hook stop runs too" >> /tmp/stop.log' }, null, { type: 'command', command: 'baton hook stop --client claude --role reviewer' }] }],
        SessionEnd: [],
      },
    };
    for (const text of ['{}\n', '{"hooks":{}}\n', `${JSON.stringify(mine)}\n`]) {
      writeFileSync(file, text);
      expect((await batonIn(['hooks', 'install', 'claude', '--uninstall', '--json'], { cwd: board.root })).json.changed, text).toBe(false);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
    // (An event list that was empty before install is not brought back empty by uninstall.)
    const theirs = { hooks: { Stop: mine.hooks.Stop } };
    writeFileSync(file, JSON.stringify(theirs));
    await batonIn(['hooks', 'install', 'claude'], { cwd: board.root });
    expect(JSON.parse(readFileSync(file, 'utf8')).hooks.Stop[0]).toEqual(mine.hooks.Stop[0]);
    expect(JSON.parse(readFileSync(file, 'utf8')).hooks.SessionStart[0].matcher).toBe('startup|resume|clear|compact|fork');
    await batonIn(['hooks', 'install', 'claude', '--uninstall'], { cwd: board.root });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(theirs);
    writeFileSync(file, '{"hooks":{"Stop":"abc"}}');
    const r = await batonIn(['hooks', 'install', 'claude', '--json'], { cwd: board.root });
    expect([r.code, r.json.error.code]).toEqual([2, 'INVALID_INPUT']);
    expect(readFileSync(file, 'utf8')).toBe('{"hooks":{"Stop":"abc"}}');
  });
});

describe('the hooks, run as the client runs them', () => {
  it('Claude Code: session start binds and primes (env file too), a message is delivered once after a tool call, stop is refused while a task is held and allowed after done, compaction and resume keep the session, session end leaves', async () => {
    const board = makeBoard();
    board.run('add', 'first task', '--id', 't1', '--no-review');
    installInProject(board.root);
    expect(board.run('hooks', 'install', 'claude').code).toBe(0);
    const { command } = installed(board.root, 'claude');
    const envFile = join(tempDir(), 'claude.env');
    writeFileSync(envFile, '');
    const sid = 'c0ffee-1';

    const start = runHook(board, command['session-start']!, { session_id: sid, source: 'startup', hook_event_name: 'SessionStart', cwd: board.root, transcript_path: '/tmp/t.jsonl' }, { CLAUDE_ENV_FILE: envFile });
    expect(start.code, start.stderr).toBe(0);
    const primer = start.json.hookSpecificOutput;
    expect(primer.hookEventName).toBe('SessionStart');
    expect(primer.additionalContext).toMatch(/^baton: you are claude \(worker\), session s-/);
    expect(primer.additionalContext).toContain('Next: claim t1');
    const env = envFromFile(envFile);
    expect(Object.keys(env).sort()).toEqual(['BATON_AGENT', 'BATON_DIR', 'BATON_SESSION', 'BATON_TOKEN']);
    expect(env.BATON_DIR).toBe(board.dir);
    // The binding lives in the board, git-ignored, readable by its owner only.
    const bindings = join(board.dir, 'hook-sessions.json');
    expect(JSON.parse(readFileSync(bindings, 'utf8'))[`claude:${sid}`].session).toBe(env.BATON_SESSION);
    expect(readFileSync(join(board.dir, '.gitignore'), 'utf8')).toContain('hook-sessions.json');

    // A later shell command of that session acts as it (the client runs the env file first).
    const claimed = spawnSync('sh', ['-c', `. '${envFile}' && node '${join(import.meta.dirname, '..', 'bin', 'baton.cjs')}' claim t1 --json`], { cwd: board.root, env: baseEnv(), encoding: 'utf8' });
    expect(JSON.parse(claimed.stdout).task.assignee).toBe('claude');

    // After a tool call: nothing to say, nothing printed.
    const quiet = runHook(board, command['post-tool-use']!, { session_id: sid, hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'ls' }, tool_response: {} });
    expect([quiet.code, quiet.stdout]).toEqual([0, '']);
    // Another process messages the agent: the next tool call delivers it, once.
    const lead = board.json('join', '--name', 'lead', '--role', 'orchestrator');
    expect((await batonAsync(['send', '--to', 'agent:claude', 'also', 'update', 'the', 'docs', '--json'], { cwd: board.root, env: { BATON_SESSION: lead.session.id, BATON_TOKEN: lead.token } })).code).toBe(0);
    const told = runHook(board, command['post-tool-use']!, { session_id: sid, hook_event_name: 'PostToolUse', tool_name: 'Edit' });
    expect(told.json.hookSpecificOutput).toMatchObject({ hookEventName: 'PostToolUse' });
    expect(told.json.hookSpecificOutput.additionalContext).toContain('[from lead] also update the docs');
    expect(runHook(board, command['post-tool-use']!, { session_id: sid, hook_event_name: 'PostToolUse' }).stdout).toBe('');

    // Stop: refused while t1 is held, naming it and the command; never twice in a row.
    const refused = runHook(board, command.stop!, { session_id: sid, hook_event_name: 'Stop', stop_hook_active: false });
    expect(refused.code).toBe(0);
    expect(refused.json).toMatchObject({ decision: 'block' });
    expect(refused.json.reason).toContain('You still hold t1');
    // The command as the agent's shell runs it: baton is a dependency of this project.
    expect(refused.json.reason).toContain('npx baton-board done t1');
    // The hook read the read index (it names the current state.json); state.json whole gives the same answer.
    expect(runHook(board, command.stop!, { session_id: sid, hook_event_name: 'Stop', stop_hook_active: false }, { BATON_NO_INDEX: '1' }).json).toEqual(refused.json);
    expect(runHook(board, command.stop!, { session_id: sid, hook_event_name: 'Stop', stop_hook_active: true }).stdout).toBe('');
    // A high-priority message unread at the end also holds the stop (and is delivered by it).
    expect(spawnSync('sh', ['-c', `. '${envFile}' && node '${join(import.meta.dirname, '..', 'bin', 'baton.cjs')}' done t1 --json`], { cwd: board.root, env: baseEnv(), encoding: 'utf8' }).status).toBe(0);
    await batonAsync(['send', '--to', 'agent:claude', '--priority', 'high', 'wait', 'for', 'me', '--json'], { cwd: board.root, env: { BATON_SESSION: lead.session.id, BATON_TOKEN: lead.token } });
    const urgent = runHook(board, command.stop!, { session_id: sid, hook_event_name: 'Stop', stop_hook_active: false });
    expect(urgent.json.decision).toBe('block');
    expect(urgent.json.reason).toContain('[from lead] wait for me');
    expect(runHook(board, command.stop!, { session_id: sid, hook_event_name: 'Stop', stop_hook_active: false }).stdout).toBe('');

    // Compaction and resume: the same baton session, primed again.
    for (const source of ['compact', 'resume']) {
      const again = runHook(board, command['session-start']!, { session_id: sid, source, hook_event_name: 'SessionStart' }, { CLAUDE_ENV_FILE: envFile });
      expect(again.json.hookSpecificOutput.additionalContext, source).toContain(`session ${env.BATON_SESSION}`);
    }
    expect(board.json('sessions').sessions.filter((s: { agent: string }) => s.agent === 'claude')).toHaveLength(1);

    // Session end: it leaves (what it held goes back) and the binding goes.
    board.run('add', 'second', '--id', 't2');
    spawnSync('sh', ['-c', `. '${envFile}' && node '${join(import.meta.dirname, '..', 'bin', 'baton.cjs')}' claim t2`], { cwd: board.root, env: baseEnv() });
    const end = runHook(board, command['session-end']!, { session_id: sid, hook_event_name: 'SessionEnd', reason: 'prompt_input_exit' });
    expect([end.code, end.stdout]).toEqual([0, '']);
    expect(board.json('show', 't2').task.status).toBe('todo');
    expect(board.json('sessions', '--all').sessions.find((s: { id: string }) => s.id === env.BATON_SESSION).state).toBe('ended');
    expect(JSON.parse(readFileSync(bindings, 'utf8'))).toEqual({});
    // A client session baton has no binding for: every hook is silent and lets the agent go on.
    for (const e of ['post-tool-use', 'stop', 'session-end']) expect(runHook(board, command[e]!, { session_id: 'unknown' }).stdout, e).toBe('');
  });

  it('Gemini CLI and Codex: the same loop in their formats (JSON-only context, AfterTool, AfterAgent deny); their shell commands act as the session with no token given', async () => {
    const board = makeBoard();
    board.run('add', 'first task', '--id', 't1', '--no-review');
    installInProject(board.root);
    expect(board.run('hooks', 'install', 'gemini').code).toBe(0);
    expect(board.run('hooks', 'install', 'codex').code).toBe(0);
    const gemini = installed(board.root, 'gemini').command;
    const g = new FakeClient(board.root);
    const hook = (client: FakeClient, command: string, input: Record<string, unknown>) => client.run(command, { input: JSON.stringify(input), env: { GEMINI_PROJECT_DIR: board.root } });
    const start = (await hook(g, gemini['session-start']!, { session_id: 'g-1', source: 'startup', hook_event_name: 'SessionStart', timestamp: new Date().toISOString() })).json;
    expect(start).toEqual({ hookSpecificOutput: { additionalContext: expect.stringContaining('you are gemini (worker)') } });
    // No env file in Gemini, and no token in the context: a shell command of the client acts as its session.
    expect(start.hookSpecificOutput.additionalContext).not.toMatch(/BATON_TOKEN|export /);
    expect((await g.baton(['next', '--json'], { GEMINI_CLI: '1' })).json).toMatchObject({ ok: true, action: 'claim' });
    expect(board.run('claim', 't1').code).toBe(8); // a terminal that is not the client's: no session
    expect((await g.baton(['claim', 't1', '--json'], { GEMINI_CLI: '1' })).json).toMatchObject({ ok: true, task: { id: 't1' } });
    const deny = (await hook(g, gemini.stop!, { session_id: 'g-1', hook_event_name: 'AfterAgent', stop_hook_active: false })).json;
    expect(deny).toMatchObject({ decision: 'deny', reason: expect.stringContaining('t1') });

    const codex = installed(board.root, 'codex').command;
    const c = new FakeClient(board.root);
    const cs = (await hook(c, codex['session-start']!, { session_id: 'x-1', source: 'startup', hook_event_name: 'SessionStart' })).json;
    expect(cs.hookSpecificOutput).toMatchObject({ hookEventName: 'SessionStart', additionalContext: expect.stringContaining('you are codex') });
    expect(cs.hookSpecificOutput.additionalContext).not.toMatch(/BATON_TOKEN|export /);
    const sessions = board.json('sessions').sessions as { id: string; agent: string }[];
    expect(sessions.map((x) => x.agent).sort()).toEqual(['codex', 'gemini']);
    // Codex's shell commands carry the thread id (the hooks' session_id): that names the session too.
    board.run('add', 'second', '--id', 't2', '--no-review');
    const viaThread = baton(['claim', 't2', '--json'], { cwd: board.root, env: { CODEX_THREAD_ID: 'x-1' } });
    expect(viaThread.json).toMatchObject({ ok: true, task: { id: 't2' } });
    expect(board.json('show', 't2').task.lease.session).toBe(sessions.find((x) => x.agent === 'codex')!.id);
  });

  it('parallel tool calls deliver a message once between them; a stop delivers every message up to the high one; a session from the environment is only unbound at the end; the env file holds one set of lines', async () => {
    const board = makeBoard();
    board.run('add', 'first task', '--id', 't1', '--no-review');
    installInProject(board.root);
    expect(board.run('hooks', 'install', 'claude').code).toBe(0);
    const { command } = installed(board.root, 'claude');
    const owner = board.json('join', '--name', 'owner', '--role', 'worker');
    const ownerEnv = { BATON_SESSION: owner.session.id, BATON_TOKEN: owner.token };
    const envFile = join(tempDir(), 'env');
    writeFileSync(envFile, 'export OTHER=1\n');
    for (const source of ['startup', 'compact', 'resume']) runHook(board, command['session-start']!, { session_id: 'p1', source }, { ...ownerEnv, CLAUDE_ENV_FILE: envFile });
    const lines = readFileSync(envFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe('export OTHER=1');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(board.dir, 'hook-sessions.json')).mode & 0o777).toBe(0o600);
    expect(envFromFile(envFile).BATON_SESSION).toBe(owner.session.id);

    const lead = board.json('join', '--name', 'lead', '--role', 'orchestrator');
    const leadEnv = { BATON_SESSION: lead.session.id, BATON_TOKEN: lead.token };
    await batonAsync(['send', '--to', 'agent:owner', 'just', 'once', '--json'], { cwd: board.root, env: leadEnv });
    const parallel = await Promise.all(
      Array.from({ length: 6 }, () =>
        new Promise<string>((res) => {
          const child = spawn('sh', ['-c', command['post-tool-use']!], { cwd: board.root, env: { ...baseEnv(), CLAUDE_PROJECT_DIR: board.root } });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('close', () => res(out));
          child.stdin.end(JSON.stringify({ session_id: 'p1', hook_event_name: 'PostToolUse' }));
        }),
      ),
    );
    expect(parallel.filter((o) => o.includes('just once'))).toHaveLength(1);

    await batonAsync(['send', '--to', 'agent:owner', 'normal', 'first', '--json'], { cwd: board.root, env: leadEnv });
    await batonAsync(['send', '--to', 'agent:owner', '--priority', 'high', 'urgent', 'second', '--json'], { cwd: board.root, env: leadEnv });
    const held = runHook(board, command.stop!, { session_id: 'p1', stop_hook_active: false });
    expect(held.json.reason).toContain('normal first');
    expect(held.json.reason).toContain('urgent second');
    expect(runHook(board, command['post-tool-use']!, { session_id: 'p1' }).stdout).toBe('');

    // The session came from the environment: the client's end unbinds it, and it stays its owner's.
    expect(board.run('claim', 't1', '--session', owner.session.id, '--token', owner.token).code).toBe(0);
    runHook(board, command['session-end']!, { session_id: 'p1', reason: 'other' });
    expect(board.json('sessions').sessions.map((x: { id: string }) => x.id)).toContain(owner.session.id);
    expect(board.json('show', 't1').task.status).toBe('in_progress');

    // prime for a session that has ended says so, and how to join again.
    board.run('leave', '--session', owner.session.id, '--token', owner.token);
    const p = board.run('prime', '--session', owner.session.id, '--token', owner.token);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(`Your session ${owner.session.id} has ended`);
    // A huge specialty list still primes, under 2,000 characters, first line first.
    const big = board.json('join', '--name', 'big', '--role', 'worker', '--specialty', Array.from({ length: 80 }, (_, i) => `specialty-number-${i}`).join(','));
    const primer = board.run('prime', '--session', big.session.id, '--token', big.token).stdout;
    expect(primer).toMatch(/^baton: you are big \(worker, specialty-number-0/);
    expect(primer.length).toBeLessThan(2000);
  });

  it('a hook that fails says why on stderr and exits 0 (an exit 2 would block the agent): no board, bad JSON', () => {
    const cwd = tempDir();
    const board = { root: cwd } as TestBoard;
    const cmd = `node '${join(import.meta.dirname, '..', 'bin', 'baton.cjs')}' hook stop --client claude`;
    const r = runHook(board, cmd, { session_id: 'z', hook_event_name: 'Stop' });
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(r.stderr).toContain('No baton board');
    const bad = spawnSync('sh', ['-c', cmd], { cwd, input: 'not json', env: baseEnv(), encoding: 'utf8' });
    expect([bad.status, bad.stdout]).toEqual([0, '']);
    expect(bad.stderr).toContain('not JSON');
    const typo = spawnSync('sh', ['-c', cmd.replace('hook stop', 'hook stpo')], { cwd, input: '{}', env: baseEnv(), encoding: 'utf8' });
    expect([typo.status, typo.stdout]).toEqual([0, '']);
    expect(typo.stderr).toContain("Unknown hook event 'stpo'");
  });
});

describe('agent presets', () => {
  it('spawn --agent claude (and codex) runs the preset with its flags and the prompt, with no config edit; doctor names preset commands missing from PATH', async () => {
    const board = makeBoard();
    board.run('add', 'first task', '--id', 't1');
    board.run('add', 'second task', '--id', 't2');
    // Fake agent CLIs on PATH that record how they were started.
    const bin = tempDir();
    for (const name of ['claude', 'codex']) {
      const path = join(bin, name);
      writeFileSync(path, `#!/bin/sh\nnode -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify({argv: process.argv.slice(2), env: {BATON_SESSION: process.env.BATON_SESSION, BATON_DIR: process.env.BATON_DIR, BATON_AGENT: process.env.BATON_AGENT}}))' '${join(board.root, `${name}.record.json`)}' "$@"\n`);
      chmodSync(path, 0o755);
    }
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const o = (await batonAsync(['orchestrator', 'start', '--json'], { cwd: board.root, env })).json;
    const lead = { ...env, BATON_SESSION: o.session.id, BATON_TOKEN: o.token };
    for (const [name, task] of [['claude', 't1'], ['codex', 't2']] as const) {
      const r = await batonAsync(['spawn', task, '--agent', name, '--no-worktree', '--json'], { cwd: board.root, env: lead });
      expect(r.code, r.stdout).toBe(0);
      const w = await batonAsync(['wait', r.json.child.session, '--timeout', '60', '--json'], { cwd: board.root, env: lead });
      expect(w.json.finished).toBe(true);
      const rec = JSON.parse(readFileSync(join(board.root, `${name}.record.json`), 'utf8'));
      const prompt = readFileSync(r.json.child.prompt_file, 'utf8');
      if (name === 'claude') expect(rec.argv).toEqual(['-p', prompt, '--permission-mode', 'acceptEdits', '--allowedTools', 'Bash,Read,Edit,Write,MultiEdit,Glob,Grep,NotebookEdit,TodoWrite,WebFetch,WebSearch,Task,mcp__baton']);
      else expect(rec.argv).toEqual(['exec', '--trust', '--dangerously-bypass-approvals-and-sandbox', '--dangerously-bypass-hook-trust', '--skip-git-repo-check', prompt]);
      expect(prompt).toContain(`## Your task: ${task}`);
      expect(rec.env).toMatchObject({ BATON_SESSION: r.json.child.session, BATON_DIR: board.dir });
    }
    const doctor = (await batonAsync(['doctor', '--json'], { cwd: board.root, env })).json;
    const agents = doctor.checks.find((c: { name: string }) => c.name === 'agents');
    expect(agents.ok).toBe(true);
    expect(agents.message).toContain('aider (aider)');
    expect(agents.message).not.toContain('claude (claude)');
    // The shipped presets run as root too; an older claude entry with the permission bypass is named when it would be refused.
    expect(doctor.checks.find((c: { name: string }) => c.name === 'agent-flags')).toBeUndefined();
    const cfg = join(board.dir, 'config.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('  agents: {}', '  agents:\n    old-claude:\n      command: ["claude", "-p", "{prompt}", "--dangerously-skip-permissions"]'));
    // (Claude Code lets it pass in a sandbox that says so: IS_SANDBOX.)
    const flags = async (sandbox: string) => (await batonAsync(['doctor', '--json'], { cwd: board.root, env: { ...env, IS_SANDBOX: sandbox } })).json.checks.find((c: { name: string }) => c.name === 'agent-flags');
    if (process.getuid?.() === 0) expect(await flags('')).toMatchObject({ ok: false, level: 'warn', message: expect.stringContaining('old-claude: Claude Code refuses --dangerously-skip-permissions') });
    else expect(await flags('')).toBeUndefined();
    expect(await flags('1')).toBeUndefined();
  });
});
