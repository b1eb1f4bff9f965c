import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { boardState, CLIENTS, cleanEnv, packBaton, type Project, runClient, userRepository } from './harness.js';
import { codexUserConfig, KEY_VARIABLE, mcpCall, ProxyTrap, say, ScriptedOpenAI, shell, type Step } from './models/openai.js';

/**
 * baton inside the real Codex CLI (conformance/clients pins @openai/codex 0.169.1), driven by a
 * scripted OpenAI Responses API on 127.0.0.1. Each case: a fresh user repository set up as the
 * README says (npm install -D the packed baton, baton init, baton mcp config --client codex,
 * baton hooks install codex), Codex's own trust step, a fresh HOME whose ~/.codex/config.toml
 * points Codex at the scripted model with everything that reaches the network off, then one
 * `codex exec` run, as a user runs it unattended.
 */

const CODEX = join(CLIENTS, 'codex');
/** One client run, at most (Codex itself usually takes 5–15 s here). */
const RUN_MS = 120_000;
/** The tools of baton's default (core) tier, as tools/list names them. */
const CORE_TOOLS = ['claim', 'done', 'handoff', 'heartbeat', 'inbox', 'next', 'release', 'send', 'show', 'status'];

interface CodexProject extends Project {
  model: ScriptedOpenAI;
  trap: ProxyTrap;
  /** The environment Codex runs in: the fresh HOME, the dummy key, every proxy variable at the trap. */
  env: Record<string, string>;
}

/**
 * Talks to `codex app-server` (JSON lines on stdio, the protocol the TUI and the IDE extension
 * use) for the trust a person gives interactively: `config/batchWrite` of the project's
 * trust_level (what `codex exec --trust` and the TUI's trust prompt persist), then `hooks/list`
 * and one `config/batchWrite` of each of baton's hooks' `trusted_hash` (what approving them in
 * the TUI's /hooks screen persists). Codex runs a project's hooks only once each is trusted by
 * its hash, and reads a project's .codex/ only once the project is trusted.
 */
async function trust(root: string, env: Record<string, string>): Promise<{ hooks: Array<{ key: string; command: string; trustStatus: string }>; warnings: string[] }> {
  const child = spawn(CODEX, ['app-server'], { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const pending = new Map<number, (m: any) => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    let m: any;
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof m.id === 'number' && pending.has(m.id)) {
      pending.get(m.id)!(m);
      pending.delete(m.id);
    }
  });
  let id = 0;
  const call = (method: string, params: unknown) =>
    new Promise<any>((resolve, reject) => {
      const n = ++id;
      const timer = setTimeout(() => reject(new Error(`codex app-server: no answer to ${method} in 30 s. stderr: ${stderr}`)), 30_000);
      pending.set(n, (m) => {
        clearTimeout(timer);
        if (m.error) reject(new Error(`codex app-server ${method}: ${JSON.stringify(m.error)}`));
        else resolve(m.result);
      });
      child.stdin.write(`${JSON.stringify({ id: n, method, params })}\n`);
    });
  try {
    await call('initialize', { clientInfo: { name: 'conformance', version: '1' } });
    child.stdin.write(`${JSON.stringify({ method: 'initialized' })}\n`);
    await call('config/batchWrite', { edits: [{ keyPath: `projects.${JSON.stringify(root)}.trust_level`, value: 'trusted', mergeStrategy: 'upsert' }] });
    const listed = await call('hooks/list', { cwds: [root] });
    const entries = (listed.data as Array<{ hooks: any[]; warnings?: string[] }>).flatMap((d) => d.hooks);
    const edits = entries.filter((h) => h.source === 'project' && h.trustStatus !== 'trusted').map((h) => ({ keyPath: `hooks.state.${JSON.stringify(h.key)}.trusted_hash`, value: h.currentHash, mergeStrategy: 'upsert' }));
    if (edits.length) await call('config/batchWrite', { edits });
    const after = await call('hooks/list', { cwds: [root] });
    const data = after.data as Array<{ hooks: any[]; warnings?: string[] }>;
    return { hooks: data.flatMap((d) => d.hooks.map((h) => ({ key: h.key, command: h.command, trustStatus: h.trustStatus }))), warnings: data.flatMap((d) => d.warnings ?? []) };
  } finally {
    child.stdin.end();
    child.kill();
  }
}

/** A fresh user repository with baton set up for Codex, a fresh HOME, and the scripted model. */
async function codexProject(steps: Step[]): Promise<CodexProject> {
  const project = userRepository();
  const model = new ScriptedOpenAI(steps);
  const trap = new ProxyTrap();
  const [base, proxy] = await Promise.all([model.start(), trap.start()]);
  const env = cleanEnv(project.home, { [KEY_VARIABLE]: 'conformance-dummy-key', ...ProxyTrap.env(proxy) });
  mkdirSync(join(project.home, '.codex'), { recursive: true });
  writeFileSync(join(project.home, '.codex', 'config.toml'), codexUserConfig(base));

  // The README's set-up, as a user types it.
  project.sh(`npm install -D ${packBaton()} --no-audit --no-fund --loglevel=error`);
  project.sh('npx baton init');
  project.sh('npx baton mcp config --client codex');
  project.sh('npx baton hooks install codex');

  // Codex's own trust step: the project (so its .codex/config.toml, and baton's server in it, loads) and its hooks.
  const root = realpathSync(project.root);
  const trusted = await trust(root, env);
  const ours = trusted.hooks.filter((h) => / hook (session-start|post-tool-use|stop|session-end) --client codex$/.test(h.command));
  expect(ours.map((h) => h.trustStatus), JSON.stringify(trusted.hooks)).toEqual(['trusted', 'trusted', 'trusted', 'trusted']);

  // `codex mcp list` shows baton's server, from the project's .codex/config.toml.
  const listed = await runClient(CODEX, ['mcp', 'list', '--json'], { cwd: project.root, env, timeoutMs: 60_000 });
  expect(listed.code, listed.stderr).toBe(0);
  const servers = JSON.parse(listed.stdout) as Array<{ name: string; enabled: boolean; transport: { command: string; args: string[] } }>;
  expect(servers.find((s) => s.name === 'baton')).toMatchObject({ enabled: true, transport: { command: 'node', args: ['node_modules/baton-board/bin/baton.cjs', 'mcp'] } });

  return { ...project, model, trap, env };
}

/** `codex exec` as a user runs it unattended: no approvals, no sandbox (the preset baton's spawn uses, less the hook-trust bypass: the hooks are trusted). */
async function runCodex(p: CodexProject, prompt = 'Work on the baton board.') {
  const started = Date.now();
  const r = await runClient(CODEX, ['exec', '--strict-config', '--color', 'never', '--dangerously-bypass-approvals-and-sandbox', prompt], { cwd: p.root, env: p.env, timeoutMs: RUN_MS });
  const ms = Date.now() - started;
  const log = `codex exec: exit ${r.code}${r.signal ? ` (${r.signal})` : ''} in ${ms} ms\n--- requests\n${p.model.transcript()}\n--- script errors\n${p.model.errors.join('\n')}\n--- stderr\n${r.stderr}\n--- stdout\n${r.stdout}`;
  return { ...r, ms, log };
}

/** What every run must show: the script ran without a hitch, nothing left 127.0.0.1, the client exited 0. */
function expectCleanRun(p: CodexProject, r: { code: number | null; log: string }): void {
  expect(p.model.errors, r.log).toEqual([]);
  expect(p.model.unused(), `steps the client never asked for\n${r.log}`).toEqual([]);
  expect(p.trap.attempts, `the client tried to reach the network:\n${r.log}`).toEqual([]);
  expect(r.code, r.log).toBe(0);
}

/** The hook's binding of this Codex session: which baton session and token the hooks act as. */
function hookBinding(p: Project): { key: string; session: string; token: string; agent: string } | undefined {
  const file = join(p.root, 'project-plan', 'hook-sessions.json');
  if (!existsSync(file)) return undefined;
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { session: string; token: string; agent: string }>;
  const [key, b] = Object.entries(all).find(([k]) => k.startsWith('codex:')) ?? [];
  return key && b ? { key, ...b } : undefined;
}

/**
 * A step that needs baton's tools: in a request that does not offer them yet (Codex 0.169 starts
 * MCP servers in the background and does not wait for them), the model does what the primer
 * says instead, in the shell, and the step waits for the next request (three in all).
 */
const batonStep = (name: string, reply: Step['reply']): Step => ({ name, reply, when: (t) => t.mcpTools('baton').length > 0, meanwhile: () => shell('npx baton status'), tries: 3 });

const step = (name: string, reply: Step['reply'], optional = false): Step => ({ name, reply, optional });

describe('Codex CLI 0.169 (codex exec), baton installed in a user repository', () => {
  it("offers baton's tools in the first model request", async () => {
    // A second request, to see whether the tools came late or not at all.
    const p = await codexProject([step('look in the shell', () => shell('npx baton status')), step('answer', () => say('Nothing to do.'))]);
    const r = await runCodex(p);
    expectCleanRun(p, r);
    const first = p.model.turns[0]!;
    const offered = p.model.turns.findIndex((t) => t.mcpTools('baton').length > 0);
    expect(first.mcpTools('baton').sort(), `baton's tools first offered in request ${offered}; the first request's tools: ${JSON.stringify(first.request.body.tools.map((t: any) => t.name))}\n${r.log}`).toEqual(CORE_TOOLS);
  });

  it('puts the primer (baton prime, at SessionStart) in the first request', async () => {
    let primer = '';
    const p = await codexProject([
      step('read the primer', () => {
        // While the session is live: what `baton prime` prints for the session the hook bound.
        const b = hookBinding(p);
        if (!b) throw new Error('no Codex session bound in hook-sessions.json: the SessionStart hook did not run');
        primer = p.sh('npx baton prime', { BATON_SESSION: b.session, BATON_TOKEN: b.token }).trim();
        return say('Read it.');
      }),
    ]);
    const r = await runCodex(p);
    expectCleanRun(p, r);
    expect(primer).toMatch(/^baton: you are codex \(worker\), session s-/);
    const developer = p.model.turns[0]!.messages('developer');
    expect(developer.some((m) => m.includes(primer)), `primer:\n${primer}\n${r.log}`).toBe(true);
  });

  it('goes next → claim → done over MCP: each result reaches the model in the next request, and the board agrees', async () => {
    let claimed: any;
    let finished: any;
    const p = await codexProject(
      [
        batonStep('next', () => mcpCall('baton', 'next')),
        step('claim what next advised', (t) => {
          const next = t.lastJson();
          expect(next).toMatchObject({ ok: true, action: 'claim', task: { id: 'parser' }, tool: { name: 'claim', arguments: { id: 'parser' } } });
          return mcpCall('baton', next.tool.name, next.tool.arguments);
        }),
        step('finish it', (t) => {
          claimed = t.lastJson();
          expect(claimed).toMatchObject({ ok: true, task: { id: 'parser', status: 'in_progress' } });
          return mcpCall('baton', 'done', { id: 'parser', notes: 'parser written' });
        }),
        step('end the turn', (t) => {
          finished = t.lastJson();
          expect(finished).toMatchObject({ ok: true });
          return say('The parser is done.');
        }),
      ],
    );
    p.sh('npx baton add "Write the parser" --id parser');
    const r = await runCodex(p);
    expectCleanRun(p, r);

    const mcp = p.model.calls.filter((c) => c.namespace === 'mcp__baton');
    expect(mcp.map((c) => c.name), r.log).toEqual(['next', 'claim', 'done']);
    for (const c of mcp) expect(p.model.outputOf(c)?.turn, `${c.name}'s result, in the request after it\n${r.log}`).toBe(c.turn + 1);

    // The board says what the tools told the model: claimed by the MCP agent, then done (to review: the balanced profile reviews everything).
    expect(finished.task.status).toBe('review');
    const task = boardState(p.root).tasks.parser;
    expect(task).toMatchObject({ status: finished.task.status, lease: null, assignee: claimed.task.assignee });
    expect(JSON.stringify(task.notes)).toContain('parser written');
  });

  it('delivers a message sent mid-task by another process in the next request (PostToolUse)', async () => {
    const text = 'Use the v2 grammar for the parser';
    let sentAt = -1;
    const p = await codexProject(
      [
        batonStep('claim', () => mcpCall('baton', 'claim', { id: 'parser' })),
        step('another process sends a message, then the model runs a tool', (t) => {
          expect(t.lastJson()).toMatchObject({ ok: true });
          p.sh(`eval "$(npx baton join --name lead --role orchestrator --export)" && npx baton send --to agent:codex "${text}"`);
          sentAt = t.index;
          return shell('git status --short');
        }),
        step('read the message, finish', (t) => {
          const added = t.added().map((i) => JSON.stringify(i)).join('\n');
          expect(added, 'the message, in what the client added since the previous request').toContain(text);
          return mcpCall('baton', 'done', { id: 'parser', notes: 'with the v2 grammar' });
        }),
        step('end the turn', () => say('Done, with the v2 grammar.')),
      ],
    );
    p.sh('npx baton add "Write the parser" --id parser');
    const r = await runCodex(p);
    expectCleanRun(p, r);
    // Not shown before it was sent; shown in the very next request, as hook context (not as the tool's output).
    expect(p.model.turns[sentAt]!.text()).not.toContain(text);
    const next = p.model.turns[sentAt + 1]!;
    expect(next.messages('developer').some((m) => m.includes(text)), r.log).toBe(true);
  });

  /**
   * The stop case: the model claims in the shell, ends its turn while holding the task, is held
   * back with the reason, finishes in the shell, ends: the shell acts as the client's session.
   */
  async function stopCase() {
    let refusal = '';
    const p = await codexProject([
      step('claim in the shell', () => shell('npx baton claim parser')),
      step('end the turn while holding the task', (t) => {
        const out = t.lastOutput();
        if (!/Process exited with code 0/.test(out)) throw new Error(`the shell claim failed:\n${out}`);
        return say('I am stopping here.');
      }),
      step('the stop was refused: finish the task', (t) => {
        refusal = t.added().map((i) => JSON.stringify(i)).join('\n');
        return shell('npx baton done parser --notes "parser written"');
      }),
      step('end the turn', (t) => {
        const out = t.lastOutput();
        if (!/Process exited with code 0/.test(out)) throw new Error(`the shell done failed:\n${out}`);
        return say('Done.');
      }),
    ]);
    p.sh('npx baton add "Write the parser" --id parser');
    const r = await runCodex(p);
    expectCleanRun(p, r);
    // Refused once, with baton's reason, which reached the model in the next request; allowed once done.
    expect(refusal, r.log).toMatch(/baton: before you stop:\\n[^"]*You still hold parser/);
    expect(r.stderr.match(/^hook: Stop Blocked$/gm), r.log).toHaveLength(1);
    expect(p.model.turns).toHaveLength(4);
    expect(boardState(p.root).tasks.parser).toMatchObject({ status: 'review', lease: null });
  }

  // Codex has no env file: the shell command acts as the session by the client process it runs
  // under (and by CODEX_THREAD_ID, the hooks' session_id, which Codex gives every shell command).
  it('refuses a stop while a task claimed in the shell is held, with its reason reaching the model, and allows it once done', async () => {
    await stopCase();
  });

  it('ends the session when the client exits, and its work goes back to the queue', async () => {
    const p = await codexProject(
      [
        batonStep('claim', () => mcpCall('baton', 'claim', { id: 'parser' })),
        step('end the turn while holding it', (t) => {
          expect(t.lastJson()).toMatchObject({ ok: true, task: { id: 'parser', status: 'in_progress' } });
          return say('Stopping with the parser unfinished.');
        }),
        // When the stop hook holds the model back (the claim is the hooks' session), it stops anyway: the hook lets a second stop through.
        step('stop anyway', () => say('Stopping anyway.'), true),
      ],
    );
    p.sh('npx baton add "Write the parser" --id parser');
    const r = await runCodex(p);
    expectCleanRun(p, r);

    const state = boardState(p.root);
    expect(state.tasks.parser, r.log).toMatchObject({ status: 'todo', lease: null });
    const sessions = Object.values(state.sessions) as Array<{ id: string; ended_at: string | null }>;
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.filter((s) => s.ended_at === null), r.log).toEqual([]);
    expect(hookBinding(p), 'the binding is forgotten at session end').toBeUndefined();
  });

  // Codex clamps a SessionEnd hook's timeout to 3 s and warns on stderr past it ("warning: clamping
  // SessionEnd hook timeout to 3s in …/.codex/hooks.json"): `baton hooks install codex` writes 3.
  it('writes no error or warning about baton on the client stderr', async () => {
    const p = await codexProject(
      [
        batonStep('next', () => mcpCall('baton', 'next')),
        step('claim', (t) => mcpCall('baton', 'claim', t.lastJson().tool.arguments)),
        step('work in the shell', () => shell('git status --short')),
        step('done', () => mcpCall('baton', 'done', { id: 'parser', notes: 'parser written' })),
        step('end the turn', () => say('Done.')),
      ],
    );
    p.sh('npx baton add "Write the parser" --id parser');
    const r = await runCodex(p);
    expectCleanRun(p, r);
    // The client's diagnostics (warning:/error: lines, failed hooks, tracing ERROR/WARN lines), with
    // the temporary directory's name taken out (it has "baton" in it).
    const base = realpathSync(join(p.root, '..'));
    const diagnostics = r.stderr
      .split('\n')
      .map((l) => l.split(base).join('<tmp>'))
      .filter((l) => /^(warning|error)\b|\b(ERROR|WARN)\b|^hook: .*\b(Failed|failed|Error|error)\b/.test(l));
    const aboutBaton = diagnostics.filter((l) => /baton|\.codex\/(hooks\.json|config\.toml)|mcp|hook/i.test(l));
    expect(aboutBaton, r.log).toEqual([]);
  });

  it('acts as one baton session across MCP, the hooks and the shell', async () => {
    let bound: ReturnType<typeof hookBinding>;
    const p = await codexProject(
      [
        batonStep('claim over MCP', () => {
          bound = hookBinding(p);
          return mcpCall('baton', 'claim', { id: 'parser' });
        }),
        step('claim in the shell', () => shell('npx baton claim lexer')),
        step('end the turn', () => say('Holding the parser and the lexer.')),
        step('stop anyway', () => say('Stopping anyway.'), true),
      ],
    );
    p.sh('npx baton add "Write the parser" --id parser');
    p.sh('npx baton add "Write the lexer" --id lexer');
    const r = await runCodex(p);
    expect(p.model.errors, r.log).toEqual([]);
    expect(bound, 'the hooks bound a session').toBeDefined();
    // The hooks' session is the only one: the MCP server's claim and the shell's were made as it.
    const state = boardState(p.root);
    expect(Object.keys(state.sessions), `sessions: ${JSON.stringify(state.sessions)}`).toEqual([bound!.session]);
    expect(Object.keys(state.agents)).toEqual([bound!.agent]);
    const claims = readFileSync(join(p.root, 'project-plan', 'events.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((e) => e.type === 'task.claimed');
    expect(claims.map((e) => [e.task, e.session])).toEqual([
      ['parser', bound!.session],
      ['lexer', bound!.session],
    ]);
  });

  it("never puts the session's token in the model's context", async () => {
    let token = '';
    const p = await codexProject([
      step('answer', () => {
        token = hookBinding(p)?.token ?? '';
        if (!token) throw new Error('no Codex session bound');
        return say('Nothing to do.');
      }),
    ]);
    const r = await runCodex(p);
    expectCleanRun(p, r);
    expect(p.model.requests.filter((q) => q.raw.includes(token)).length, r.log).toBe(0);
  });
});
