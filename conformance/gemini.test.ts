import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boardState, CLIENTS, cleanEnv, packBaton, type Project, runClient, userRepository } from './harness.js';
import { after, call, GeminiModel, say, shell, type Step, USER_SETTINGS } from './models/gemini.js';

/**
 * baton inside Gemini CLI (conformance/clients, pinned), driven by a scripted Gemini API on
 * 127.0.0.1. Each case is one run of `gemini -p` in a fresh user repository set up as the README
 * says, and a fresh HOME. CONFORMANCE_DEBUG=1 prints each run's set-up and client times and its
 * transcript (the agent's requests and the script's replies, and the client's stderr).
 */

const GEMINI = join(CLIENTS, 'gemini');
/** One client run at most this long. */
const RUN_MS = 120_000;

/**
 * The user's repository: baton installed from the packed tarball, a board, baton's MCP server and
 * hooks in .gemini/settings.json (the README's steps), then Gemini CLI's own first-run steps done
 * the way its files keep them: the API-key auth chosen and nothing reported (~/.gemini/settings.json),
 * and the repository trusted (~/.gemini/trustedFolders.json, what the trust dialog writes; without
 * it a headless run exits 55 and an untrusted folder loads no project settings at all).
 */
function geminiProject(): Project {
  const p = userRepository();
  const t0 = Date.now();
  const tarball = packBaton();
  const t1 = Date.now();
  p.sh(`npm install -D --no-audit --no-fund --loglevel=error ${tarball}`);
  const t2 = Date.now();
  p.sh('npx baton init');
  p.sh('npx baton mcp config --client gemini');
  p.sh('npx baton hooks install gemini');
  if (process.env.CONFORMANCE_DEBUG) process.stderr.write(`set-up: pack ${t1 - t0} ms, install ${t2 - t1} ms, baton steps ${Date.now() - t2} ms\n`);
  const dir = join(p.home, '.gemini');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'settings.json'), `${JSON.stringify(USER_SETTINGS, null, 2)}\n`);
  writeFileSync(join(dir, 'trustedFolders.json'), `${JSON.stringify({ [realpathSync(p.root)]: 'TRUST_FOLDER' }, null, 2)}\n`);
  return p;
}

/** PATH without this checkout's node_modules/.bin (the client finds the user's baton through npx, as a user's would). */
const userPath = () =>
  process.env
    .PATH!.split(delimiter)
    .filter((d) => !/node_modules[\\/]\.bin$/.test(d))
    .join(delimiter);

/**
 * Runs gemini under coreutils `timeout`, which signals the whole process group: Gemini CLI
 * relaunches itself as a child that keeps the output pipes, and starts the MCP server and the
 * hooks, so killing the first process alone would leave the rest running (exit 124 on a timeout).
 */
function gemini(p: Project, args: string[], env: Record<string, string>) {
  return runClient('timeout', ['--kill-after=5', String(RUN_MS / 1000), GEMINI, ...args], { cwd: p.root, env: cleanEnv(p.home, { ...env, PATH: userPath() }), timeoutMs: RUN_MS + 15_000 });
}

async function runGemini(p: Project, model: GeminiModel, prompt: string) {
  const started = Date.now();
  const r = await gemini(p, ['--approval-mode=yolo', '--output-format', 'json', '-p', prompt], model.env());
  const ms = Date.now() - started;
  if (process.env.CONFORMANCE_DEBUG) process.stderr.write(`gemini ran ${ms} ms (exit ${r.code})\n${transcript(model, r.stderr, started)}\n`);
  let json: any = null;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = null;
  }
  return { ...r, ms, json, transcript: () => transcript(model, r.stderr, started) };
}

/**
 * The run went as the script says: the client exited 0, every step ran without a surprise and
 * none was left, and nothing tried to leave the machine.
 */
function expectWentAsScripted(run: { code: number | null; transcript: () => string }, model: GeminiModel): void {
  const info = run.transcript();
  expect(run.code, info).toBe(0);
  expect(model.problems, info).toEqual([]);
  expect(model.remaining, info).toBe(0);
  expect(model.escapes, info).toEqual([]);
}

/** What to print when a case fails: the agent's requests (their newest turn) and replies, and the client's stderr. */
function transcript(model: GeminiModel, stderr: string, started: number): string {
  const turns = model.turns.map(({ request, reply, at }) => `#${request.index} ${request.model} at ${at - started} ms\n  in: ${request.newestText.slice(0, 1500).replace(/\n/g, '\n      ')}\n  out: ${JSON.stringify(reply)}`);
  return [...turns, `problems: ${JSON.stringify(model.problems)}`, `side: ${model.side.map((s) => s.recorded.path).join(', ')}`, `stderr:\n${stderr.slice(-4000)}`].join('\n');
}

/** The first JSON object in a tool's output (MCP results come as the command's --json document, maybe wrapped). */
function jsonIn(text: string): any {
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) {
    for (let j = text.lastIndexOf('}'); j > i; j = text.lastIndexOf('}', j - 1)) {
      try {
        return JSON.parse(text.slice(i, j + 1));
      } catch {
        /* a shorter span */
      }
    }
  }
  throw new Error(`no JSON in: ${text.slice(0, 300)}`);
}

/**
 * A shell command as the model runs it: Gemini CLI has no env file, and the command acts as the
 * client's baton session by the client process it runs under.
 */
const asSession = (command: string): Step => shell(command);

const CORE_TOOLS = ['status', 'show', 'heartbeat', 'next', 'claim', 'done', 'release', 'inbox', 'send', 'handoff'];

/** stderr lines that say something went wrong with baton (Gemini lists the hooks' names in a notice: not an error). */
function batonErrors(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /baton/i.test(l) && /error|fail|refused|cannot|could not|ENOENT|not found|timed? ?out|exit(ed)? (code|status)|invalid|denied|crash/i.test(l));
}

/** The hooks' bindings of client sessions to baton sessions (project-plan/hook-sessions.json), credentials and all. */
function bindings(p: Project): Record<string, { session: string; token: string }> {
  return JSON.parse(readFileSync(join(p.root, 'project-plan', 'hook-sessions.json'), 'utf8'));
}

/** The board's event log as the client left it. */
function events(p: Project): any[] {
  return readFileSync(join(p.root, 'project-plan', 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('Gemini CLI 0.61 with baton installed in the project', () => {
  it("has baton's tools in the first model request (and gemini mcp list shows baton connected)", async () => {
    const p = geminiProject();
    const model = await new GeminiModel([say('Nothing to do.')]).start();
    const list = await gemini(p, ['mcp', 'list'], model.env());
    expect(list.stdout + list.stderr).toMatch(/baton: node node_modules\/baton-board\/bin\/baton\.cjs mcp \(stdio\) - Connected/);
    expect(model.server.requests).toEqual([]);

    const run = await runGemini(p, model, 'What is on the board?');
    const info = run.transcript();
    expectWentAsScripted(run, model);
    const first = model.requests[0]!;
    expect(first.index).toBe(0);
    for (const t of CORE_TOOLS) expect(first.tools, info).toContain(`mcp_baton_${t}`);
    // The built-in shell is there too: the other way to baton.
    expect(first.tools).toContain('run_shell_command');
    // The board: the SessionStart hook joined one session (listing the tools joins none), ended at the exit.
    const sessions = Object.values(boardState(p.root).sessions) as any[];
    expect(sessions, JSON.stringify(sessions)).toHaveLength(1);
    expect(sessions[0].ended_at).not.toBeNull();
  });

  it('has the primer (what baton prime prints at SessionStart) in the first model request', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    let primed = '';
    const model = await new GeminiModel([
      after(() => {
        // What `baton prime` prints for the session the hook bound, while it is on.
        const [b] = Object.values(bindings(p));
        primed = p.sh('npx baton prime', { BATON_SESSION: b!.session, BATON_TOKEN: b!.token }).trim();
      }, say('Noted.')),
    ]).start();
    const run = await runGemini(p, model, 'Work on the board.');
    const info = run.transcript();
    expectWentAsScripted(run, model);
    const joined = events(p).find((e) => e.type === 'session.joined');
    expect(joined, 'the SessionStart hook joined a session').toBeTruthy();
    const first = model.requests[0]!.text;
    expect(first, info).toContain(primed);
    expect(first, info).toContain(`baton: you are ${joined.actor} (worker), session ${joined.session}, on board`);
    // Commands as the agent's shell runs them here (baton is a dependency of the project).
    expect(first).toContain('Next: claim parser "Write the parser": npx baton-board claim parser.');
    expect(first).toContain('Loop: 1. npx baton-board next  2. npx baton-board claim ID');
    // Before the prompt, in the same turn: the client prepends a SessionStart hook's context to the prompt.
    expect(first.indexOf('baton: you are')).toBeLessThan(first.indexOf('Work on the board.'));
  });

  it('goes next → claim → done over MCP: each result reaches the model in the next request, and the board agrees', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    let id = '';
    const model = await new GeminiModel([
      call('mcp_baton_next'),
      call('mcp_baton_claim', (req) => {
        const next = jsonIn(req.output('mcp_baton_next'));
        id = next.tool?.arguments?.id ?? next.task?.id;
        return { id };
      }),
      call('mcp_baton_done', (req) => {
        expect(jsonIn(req.output('mcp_baton_claim')).ok).toBe(true);
        return { id, notes: 'parser written' };
      }),
      say('The parser is done.'),
    ]).start();
    const run = await runGemini(p, model, 'Take the next task on the board and finish it.');
    const info = run.transcript();
    expectWentAsScripted(run, model);
    expect(model.requests.length, info).toBe(4);
    expect(id).toBe('parser');

    const [, afterNext, afterClaim, afterDone] = model.requests;
    const next = jsonIn(afterNext!.output('mcp_baton_next'));
    expect(next).toMatchObject({ ok: true, action: 'claim', tool: { name: 'claim', arguments: { id: 'parser' } } });
    const claim = jsonIn(afterClaim!.output('mcp_baton_claim'));
    expect(claim).toMatchObject({ ok: true });
    expect(JSON.stringify(claim)).toContain('in_progress');
    const done = jsonIn(afterDone!.output('mcp_baton_done'));
    expect(done).toMatchObject({ ok: true });
    expect(JSON.stringify(done)).toContain('"done"');

    const task = boardState(p.root).tasks.parser;
    expect(task.status).toBe('done');
    expect(task.lease ?? null).toBeNull();
    const ev = events(p);
    const claimed = ev.find((e) => e.type === 'task.claimed' && e.task === 'parser');
    const finished = ev.find((e) => e.type === 'task.done' && e.task === 'parser');
    expect(claimed, JSON.stringify(ev.map((e) => e.type))).toBeTruthy();
    expect(finished?.session).toBe(claimed.session);
    expect(claim.revision).toBeLessThan(done.revision);
  });

  it('delivers a message sent by another process mid-task in the next request (AfterTool hook)', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    const text = `lead here: the schema changed ${Date.now()}`;
    const model = await new GeminiModel([
      // Another process on the board sends while the model's turn (a tool call) is on its way.
      after(() => void p.sh(`eval "$(npx baton join --name lead --role orchestrator --export)" && npx baton send --to agent:gemini ${JSON.stringify(text)} && npx baton leave`), call('mcp_baton_next')),
      say('Read the message.'),
    ]).start();
    const run = await runGemini(p, model, 'Check the board.');
    const info = run.transcript();
    expectWentAsScripted(run, model);
    expect(model.requests[0]!.text).not.toContain(text);
    // With the tool's result, in the very next request, once.
    const second = model.requests[1]!;
    expect(second.functionResponses.map((f) => f.name)).toEqual(['mcp_baton_next']);
    expect(second.newestText, info).toContain(text);
    expect(model.requests.filter((r) => r.newestText.includes(text)).length).toBe(1);
    // The board: the message went to the agent the board shows for this client, which the SessionStart hook joined as, and it has read it.
    const ev = events(p);
    const sent = ev.find((e) => e.type === 'message.sent');
    expect(sent?.data?.to, JSON.stringify(ev)).toBe('agent:gemini');
    expect(sent.data.text).toContain(text);
    const agent = ev.find((e) => e.type === 'session.joined')!.actor;
    const cursors = JSON.parse(readFileSync(join(p.root, 'project-plan', 'cursors.json'), 'utf8'));
    expect(cursors[`inbox.${agent}`], JSON.stringify(cursors)).toBeGreaterThanOrEqual(sent.seq);
  });

  it('refuses the stop while a task claimed over the shell is held, and allows it once it is done', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    const model = await new GeminiModel([
      asSession('npx baton claim parser'),
      say('I have claimed the parser; stopping here.'),
      (req, m) => {
        // The AfterAgent hook's reason comes back as the next prompt.
        expect(req.newestText).toContain('baton: before you stop');
        expect(req.newestText).toContain('You still hold parser');
        return asSession('npx baton done parser --notes "parser written"')(req, m);
      },
      say('The parser is done.'),
    ]).start();
    const run = await runGemini(p, model, 'Claim the parser task over the shell.');
    const info = run.transcript();
    expectWentAsScripted(run, model);
    expect(model.requests.length, info).toBe(4);
    expect(model.requests[1]!.output('run_shell_command')).toMatch(/parser/);
    expect(model.requests[2]!.newestText).toMatch(/baton: before you stop:\nYou still hold parser \("Write the parser"\): finish it with npx baton-board done parser/);
    expect(model.requests[3]!.output('run_shell_command')).not.toMatch(/error/i);
    expect(run.json?.response, info).toContain('The parser is done.');

    const task = boardState(p.root).tasks.parser;
    expect(task.status).toBe('done');
    const ev = events(p);
    const joined = ev.find((e) => e.type === 'session.joined');
    expect(ev.find((e) => e.type === 'task.claimed')?.session).toBe(joined.session);
    expect(ev.find((e) => e.type === 'task.done')?.session).toBe(joined.session);
  });

  it('ends the session when the client exits, and what it held goes back to the queue', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    p.sh('npx baton add "Write the lexer" --id lexer --no-review');
    const model = await new GeminiModel([
      call('mcp_baton_claim', { id: 'lexer' }),
      asSession('npx baton claim parser'),
      say('Stopping for now.'),
      // Refused (it holds parser); the second stop in a row is let through (stop_hook_active).
      say('I have to stop now anyway.'),
    ]).start();
    const run = await runGemini(p, model, 'Claim the lexer and the parser, then stop.');
    const info = run.transcript();
    expectWentAsScripted(run, model);
    expect(model.requests.length, info).toBe(4);
    expect(model.requests[3]!.newestText).toContain('You still hold parser');

    // Right after the client's exit, as a user would look.
    const state = boardState(p.root);
    const live = Object.values(state.sessions).filter((s: any) => s.ended_at === null);
    expect(live, JSON.stringify(state.sessions)).toEqual([]);
    for (const id of ['parser', 'lexer']) {
      expect(state.tasks[id].status, id).toBe('todo');
      expect(state.tasks[id].lease ?? null, id).toBeNull();
    }
  });

  // SPEC §12 and §15: one client session is one baton session, over MCP, the hooks and the shell.
  it('acts as one baton session over MCP, the hooks and the shell', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    const model = await new GeminiModel([call('mcp_baton_claim', { id: 'parser' }), asSession('npx baton done parser --notes "parser written"'), say('The parser is done.')]).start();
    const run = await runGemini(p, model, 'Claim the parser over MCP, finish it over the shell.');
    expectWentAsScripted(run, model);
    const sessions = Object.keys(boardState(p.root).sessions);
    const ev = events(p);
    expect(sessions, JSON.stringify(ev.filter((e) => e.type.startsWith('session.')))).toHaveLength(1);
    expect(ev.find((e) => e.type === 'task.claimed')?.session).toBe(sessions[0]);
    expect(ev.find((e) => e.type === 'task.done')?.session).toBe(sessions[0]);
  });

  // SPEC §15: tokens never enter the model's context.
  it("never puts the session's token in the model's context", async () => {
    const p = geminiProject();
    const tokens: string[] = [];
    const model = await new GeminiModel([
      after(() => {
        // The hooks' binding, read while the session is on: the token the hooks act with.
        tokens.push(...Object.values(bindings(p)).map((b) => b.token));
      }, say('Nothing to do.')),
    ]).start();
    const run = await runGemini(p, model, 'What is on the board?');
    expectWentAsScripted(run, model);
    expect(tokens.length).toBeGreaterThan(0);
    for (const r of model.requests) for (const t of tokens) expect(r.recorded.raw.includes(t), `request ${r.index} carries the session token`).toBe(false);
  });

  // The MCP client in Gemini CLI 0.61 checks structuredContent against the tool's output schema
  // whenever it is there, error or not: a refusal carried as structured content reached the model as
  // "MCP error -32602: Structured content does not match the tool's output schema…". baton's refusal
  // is text only (src/mcp/server.ts).
  it("brings a refused MCP call to the model as baton's code, message and hint", async () => {
    const p = geminiProject();
    const model = await new GeminiModel([call('mcp_baton_claim', { id: 'nosuch' }), say('There is no such task.')]).start();
    const run = await runGemini(p, model, 'Claim the task nosuch.');
    expectWentAsScripted(run, model);
    const out = model.requests[1]!.output('mcp_baton_claim');
    expect(out, run.transcript()).toContain('NOT_FOUND');
    expect(out).toContain("No task 'nosuch' on this board.");
    expect(out).toContain('baton list');
  });

  // Gemini CLI adds `wait_for_previous` (boolean) to every tool's parameters, MCP tools too, tells
  // the model to set it on a call that depends on an earlier one, and passes it on to the server;
  // baton's tools refuse arguments they do not declare, except what a client adds for itself.
  it('takes the wait_for_previous argument Gemini CLI adds to every tool', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    const model = await new GeminiModel([
      call('mcp_baton_next', { wait_for_previous: false }),
      call('mcp_baton_claim', { id: 'parser', wait_for_previous: true }),
      say('Claimed.'),
      // The stop hook holds the turn while the claimed task is held (one session over MCP and
      // the hooks); the second stop in a row is let through.
      say('Stopping with the parser claimed.'),
    ]).start();
    const run = await runGemini(p, model, 'Claim the next task.');
    expectWentAsScripted(run, model);
    expect(model.requests[3]!.newestText, run.transcript()).toContain('You still hold parser');
    expect(jsonIn(model.requests[1]!.output('mcp_baton_next')), run.transcript()).toMatchObject({ ok: true, action: 'claim' });
    expect(jsonIn(model.requests[2]!.output('mcp_baton_claim'))).toMatchObject({ ok: true });
    expect(events(p).find((e) => e.type === 'task.claimed')?.task).toBe('parser');
  });

  it('says nothing about baton on stderr through a whole session (MCP, shell, every hook)', async () => {
    const p = geminiProject();
    p.sh('npx baton add "Write the parser" --id parser --no-review');
    const model = await new GeminiModel([
      call('mcp_baton_next'),
      call('mcp_baton_claim', { id: 'parser' }),
      after(() => void p.sh(`eval "$(npx baton join --name lead --role orchestrator --export)" && npx baton send --to all "keep going" && npx baton leave`), asSession('npx baton status')),
      call('mcp_baton_done', { id: 'parser', notes: 'done' }),
      say('Finished.'),
    ]).start();
    const run = await runGemini(p, model, 'Finish the next task.');
    expectWentAsScripted(run, model);
    expect(batonErrors(run.stderr), run.stderr).toEqual([]);
  });
});
