import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, baton, batonAsync, batonIn, makeBoard, makeBoardIn, type Run, tempDir, type TestBoard, type TestBoardIn, boardState } from './helpers.js';

/**
 * Orchestration: goals, gates and signals (more of it as the orchestration work lands). Request and
 * answer run in-process; spawn, its children and the demo run real processes.
 */

interface Joined {
  agent: string;
  env: Record<string, string>;
}

const as = (board: TestBoard, who: Joined, ...args: string[]): Promise<Run> => batonAsync([...args, '--json'], { cwd: board.root, env: who.env });

async function joinAsIn(board: TestBoardIn, name: string, role = 'worker'): Promise<Joined> {
  const r = await board.json('join', '--name', name, '--role', role);
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { agent: r.agent.id, env: { BATON_SESSION: r.session.id, BATON_TOKEN: r.token } };
}

/** As `as`, in-process. */
const asIn = (board: TestBoardIn, who: Joined, ...args: string[]): Promise<Run> => batonIn([...args, '--json'], { cwd: board.root, env: who.env });

describe('gates and signals', () => {
  it('a signal resolves exactly the gates whose fields all agree; partial matches and match-less gates stay waiting', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'CI for PR 42', '--id', 'ci42', '--kind', 'gate', '--gate-type', 'ci', '--match', 'repo=web,pr=42');
    await board.run('add', 'CI for PR 43', '--id', 'ci43', '--kind', 'gate', '--gate-type', 'ci', '--match', 'repo=web,pr=43');
    await board.run('add', 'any CI', '--id', 'bare', '--kind', 'gate', '--gate-type', 'ci');
    await board.run('add', 'human ok', '--id', 'human', '--kind', 'gate', '--gate-type', 'human_approval', '--match', 'repo=web,pr=42');
    await board.run('add', 'deploy', '--id', 'deploy', '--depends-on', 'ci42');
    expect((await board.json('show', 'ci42')).task.status).toBe('waiting');
    expect((await board.json('list', '--ready')).tasks.map((t: { id: string }) => t.id)).toEqual([]);

    const partial = await board.json('signal', '--type', 'ci', '--match', 'repo=web', '--outcome', 'success');
    expect(partial.resolved).toEqual([]);
    const exact = await board.json('signal', '--type', 'ci', '--match', 'repo=web,pr=42,sha=abc', '--outcome', 'success');
    expect(exact.resolved.map((t: { id: string }) => t.id)).toEqual(['ci42']);
    const tasks = new Map((await board.json('list')).tasks.map((t: { id: string; status: string }) => [t.id, t.status]));
    expect(Object.fromEntries(tasks)).toMatchObject({ ci42: 'done', ci43: 'waiting', bare: 'waiting', human: 'waiting', deploy: 'todo' });
    expect((await board.json('list', '--ready')).tasks.map((t: { id: string }) => t.id)).toEqual(['deploy']);
    const events = (await board.json('events', '--type', 'task.ready')).events;
    expect(events.map((e: { task: string; notify: { kind: string } }) => [e.task, e.notify.kind])).toEqual([['deploy', 'unblocked']]);

    // Gates are never claimed, and a match-less gate only resolves by id.
    expect((await board.json('signal', 'bare', '--outcome', 'success')).resolved.map((t: { id: string }) => t.id)).toEqual(['bare']);
    expect((await board.json('signal', 'deploy', '--outcome', 'success'))._code).toBe(3);
  });

  it('failure blocks the gate and notifies; unblock puts it back to waiting for the next signal', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'CI', '--id', 'ci', '--kind', 'gate', '--gate-type', 'ci', '--match', 'pr=7');
    const lead = await joinAsIn(board, 'lead', 'orchestrator');
    const failed = await board.json('signal', '--type', 'ci', '--match', 'pr=7', '--outcome', 'failure', '--notes', 'tests red');
    expect(failed.resolved[0]).toMatchObject({ id: 'ci', status: 'blocked', blocked: { reason: 'ci signal failed: tests red', previous: 'waiting' } });
    const inbox = (await asIn(board, lead, 'inbox', '--kind', 'blocker')).json;
    expect(inbox.notifications.map((n: { task: string }) => n.task)).toEqual(['ci']);
    expect((await board.json('unblock', 'ci')).task.status).toBe('waiting');
    expect((await board.json('signal', '--type', 'ci', '--match', 'pr=7', '--outcome', 'success')).resolved[0].status).toBe('done');
    expect((await board.json('signal', '--type', 'ci', '--outcome', 'maybe'))._code).toBe(2);
  });
});

describe('goals', () => {
  it('a goal is never claimed, shows its tree with progress, and is done when all its children are', async () => {
    const board = await makeBoardIn(['--profile', 'throughput']);
    await board.run('add', 'Ship v1', '--id', 'v1', '--kind', 'goal');
    await board.run('add', 'Backend', '--id', 'be', '--kind', 'goal', '--parent', 'v1');
    await board.run('add', 'API', '--id', 'api', '--parent', 'be');
    await board.run('add', 'DB', '--id', 'db', '--parent', 'be');
    await board.run('add', 'Docs', '--id', 'docs', '--parent', 'v1');
    await board.run('add', 'Announce', '--id', 'announce', '--depends-on', 'v1');
    const w = await joinAsIn(board, 'w');
    expect((await asIn(board, w, 'claim', 'v1')).json.error.code).toBe('INVALID_TRANSITION');

    for (const id of ['api', 'db']) {
      expect((await asIn(board, w, 'claim', id)).code).toBe(0);
      expect((await asIn(board, w, 'done', id)).code).toBe(0);
    }
    let show = await board.json('show', 'v1');
    expect(show.progress).toEqual({ done: 3, cancelled: 0, total: 4 });
    expect(show.children.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([['be', 'done'], ['docs', 'todo']]);
    expect(show.children[0].children.map((c: { id: string }) => c.id)).toEqual(['api', 'db']);
    expect(show.task.status).toBe('todo');

    expect((await board.json('cancel', 'docs')).task.status).toBe('cancelled');
    show = await board.json('show', 'v1');
    expect(show.task.status).toBe('done');
    expect(show.progress).toEqual({ done: 3, cancelled: 1, total: 4 });
    expect((await board.json('events', '--type', 'goal.completed')).events.map((e: { task: string }) => e.task)).toEqual(['be', 'v1']);
    expect((await board.json('list', '--ready')).tasks.map((t: { id: string }) => t.id)).toEqual(['announce']);
  });
});

describe('the canonical orchestrator, prompts and AGENTS.md', () => {
  it('orchestrator start twice gives one session; --relaunch ends the old one and frees its leases; stray orchestrators never become canonical', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'x', '--id', 'x');
    const stray = await joinAsIn(board, 'test-orchestrator-2', 'orchestrator');
    const first = await board.json('orchestrator', 'start');
    expect(first._code).toBe(0);
    expect(first).toMatchObject({ reused: false, agent: { id: 'test-orchestrator', role: 'orchestrator' }, session: { canonical: true } });
    expect(first.token).toEqual(expect.any(String));
    const again = await board.json('orchestrator', 'start');
    expect(again).toMatchObject({ reused: true, token: null, session: { id: first.session.id } });
    expect((await board.json('sessions')).sessions.filter((s: { canonical: boolean }) => s.canonical).map((s: { id: string }) => s.id)).toEqual([first.session.id]);

    const orch = { agent: first.agent.id, env: { BATON_SESSION: first.session.id, BATON_TOKEN: first.token } };
    expect((await asIn(board, orch, 'claim', 'x')).code).toBe(0);
    const relaunched = await board.json('orchestrator', 'start', '--relaunch');
    expect(relaunched).toMatchObject({ reused: false, ended: first.session.id });
    expect(relaunched.session.id).not.toBe(first.session.id);
    expect((await board.json('show', 'x')).task).toMatchObject({ status: 'todo', lease: null, assignee: null });
    expect((await asIn(board, orch, 'next')).json.error.code).toBe('SESSION_ENDED');
    const sessions = (await board.json('sessions', '--all')).sessions;
    expect(sessions.filter((s: { canonical: boolean }) => s.canonical).map((s: { id: string }) => s.id)).toEqual([relaunched.session.id]);
    expect(sessions.find((s: { agent: string }) => s.agent === stray.agent).canonical).toBe(false);
  });

  it('prompt renders the role loop, the board, the orchestrator and the task; a board copy overrides the template', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'Build the API', '--id', 'api', '--paths', 'src/api/**', '--description', 'REST endpoints');
    await board.json('orchestrator', 'start');
    const p = await board.json('prompt', 'worker', '--task', 'api');
    expect(p.prompt).toContain('baton next --json');
    expect(p.prompt).toContain('baton heartbeat --task ID');
    expect(p.prompt).toContain('baton send --to orchestrator');
    expect(p.prompt).toContain(board.dir);
    expect(p.prompt).toContain('## Your task: api');
    expect(p.prompt).toContain('Owned paths: src/api/**');
    expect((await board.json('prompt', 'reviewer')).prompt).toContain('baton review approve ID');
    expect((await board.json('prompt', 'boss'))._code).toBe(2);
    mkdirSync(join(board.dir, 'templates', 'prompts'), { recursive: true });
    writeFileSync(join(board.dir, 'templates', 'prompts', 'worker.md'), 'Custom for {{project}}\n{{task}}\n');
    expect((await board.json('prompt', 'worker', '--task', 'api')).prompt).toMatch(/^Custom for test\n## Your task: api/);
    expect((await board.run('prompt', 'worker')).stdout).toBe('Custom for test\n');
  });

  it('init --agents-md writes the marked section once, refreshes it in place, and touches CLAUDE.md only if present', async () => {
    const board = await makeBoardIn(['--agents-md']);
    const agents = join(board.root, 'AGENTS.md');
    const first = readFileSync(agents, 'utf8');
    expect(first).toContain('<!-- baton:start -->');
    expect(first).toContain('baton next');
    expect(existsSync(join(board.root, 'CLAUDE.md'))).toBe(false);
    writeFileSync(join(board.root, 'CLAUDE.md'), '# Notes for Claude\n\nKeep it short.\n');
    writeFileSync(agents, first.replace('## Coordination: baton', '## stale heading'));
    const again = await board.json('init', '--agents-md');
    expect(again._code).toBe(0);
    expect(readFileSync(agents, 'utf8')).toBe(first);
    const claude = readFileSync(join(board.root, 'CLAUDE.md'), 'utf8');
    expect(claude.startsWith('# Notes for Claude\n\nKeep it short.\n\n<!-- baton:start -->')).toBe(true);
    await board.json('init', '--agents-md');
    expect(readFileSync(join(board.root, 'CLAUDE.md'), 'utf8')).toBe(claude);
    expect(claude.match(/baton:start/g)).toHaveLength(1);
    expect((await board.json('init'))._code).toBe(2);
  });
});

const FAKE = join(import.meta.dirname, 'fixtures', 'fake-agent.mjs');

/** Adds spawn settings to config.yaml: agents running the fake agent in the given modes. */
function configureSpawn(board: TestBoard, extra = '') {
  const path = join(board.dir, 'config.yaml');
  const agent = (mode: string) => JSON.stringify([process.execPath, FAKE, mode, BIN]);
  writeFileSync(
    path,
    readFileSync(path, 'utf8').replace(
      /^ {2}agents: \{\}$/m,
      `  agents:\n    fake:\n      command: ${agent('loop')}\n    hang:\n      command: ${agent('hang')}\n    broken:\n      command: ["/nonexistent/agent-binary", "{prompt_file}"]${extra}`,
    ),
  );
}

function orchestrator(board: TestBoard): Joined {
  const o = board.json('orchestrator', 'start');
  expect(o._code).toBe(0);
  return { agent: o.agent.id, env: { BATON_SESSION: o.session.id, BATON_TOKEN: o.token } };
}

describe('spawn', () => {
  it('three spawned children finish a 20-task board: each task done once, reviewed by another agent, parents recorded, ps and wait report them', async () => {
    const board = makeBoard();
    configureSpawn(board);
    const tasks = Array.from({ length: 20 }, (_, i) => ({ id: `s${i}`, title: `spawned task ${i}`, depends_on: i >= 5 ? [`s${i - 5}`] : [] }));
    writeFileSync(join(board.root, 'plan.json'), JSON.stringify(tasks));
    expect(board.run('import', 'plan.json').code).toBe(0);
    const lead = orchestrator(board);
    const children = [];
    // The children wait for the gate: on a busy machine the first could otherwise finish every
    // ready task (into review) before the second is spawned, leaving it nothing to take.
    const gate = join(board.root, 'go');
    for (const args of [['--next'], ['--next'], ['--role', 'reviewer']]) {
      const r = await as(board, { ...lead, env: { ...lead.env, FAKE_AGENT_GATE: gate } }, 'spawn', ...args, '--agent', 'fake');
      expect(r.code, r.stdout).toBe(0);
      expect(r.json.child).toMatchObject({ parent: board.json('sessions').sessions.find((s: { canonical: boolean }) => s.canonical).id, depth: 1, state: 'running' });
      children.push(r.json.child);
    }
    expect(children[0].task).not.toBe(children[1].task);
    const ps = (await as(board, lead, 'ps')).json.children;
    expect(ps.map((c: { session: string }) => c.session).sort()).toEqual(children.map((c) => c.session).sort());
    writeFileSync(gate, '');
    for (const c of children) {
      const w = await as(board, lead, 'wait', c.session, '--timeout', '240');
      expect(w.json, readFileSync(c.log, 'utf8')).toMatchObject({ finished: true, child: { exit_code: 0, state: 'exited' } });
    }
    const list = board.json('list').tasks;
    expect(list.map((t: { status: string }) => t.status)).toEqual(Array(20).fill('done'));
    const events = board.json('events', '--limit', '0').events;
    for (const t of list) {
      const approvals = events.filter((e: { type: string; task: string }) => e.type === 'review.approved' && e.task === t.id);
      expect(approvals).toHaveLength(1);
      expect(approvals[0].actor).not.toBe(t.assignee);
      expect(t.reviewer).toBe(approvals[0].actor);
    }
    expect(readFileSync(children[0].prompt_file, 'utf8')).toContain(`## Your task: ${children[0].task}`);
    expect(readFileSync(children[0].log, 'utf8')).toContain(`(parent ${children[0].parent}, depth 1)`);
    expect(board.json('doctor').healthy).toBe(true);
  }, 300_000);

  it('a failure at any step leaves nothing behind and the task todo: bad command, worktree failure, limits', async () => {
    const board = makeBoard();
    configureSpawn(board);
    board.run('add', 'work', '--id', 'work');
    const lead = orchestrator(board);
    const sessionsBefore = () => board.json('sessions').sessions.length;
    const live = sessionsBefore();

    const bad = await as(board, lead, 'spawn', 'work', '--agent', 'broken');
    expect(bad.code, bad.stdout).toBe(2);
    expect(bad.json.error.message).toMatch(/Spawn failed, nothing was left behind: .*ENOENT/);
    expect(board.json('show', 'work').task).toMatchObject({ status: 'todo', assignee: null, lease: null });
    expect(sessionsBefore()).toBe(live);
    // The failed spawn had written its prompt (it fails at the launch, after that) and took it back.
    expect(bad.json.error.message).toMatch(/ENOENT/);
    expect(readdirSync(join(board.dir, 'runs')).filter((f) => f.endsWith('.prompt.md'))).toEqual([]);

    // Worktree failure: the worktree root lies under a regular file.
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: board.root });
    execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'base'], { cwd: board.root });
    writeFileSync(join(board.root, 'not-a-dir'), 'x');
    const cfg = join(board.dir, 'config.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('worktree_root: null', 'worktree_root: not-a-dir/trees'));
    const wt = await as(board, lead, 'spawn', 'work', '--agent', 'fake', '--worktree');
    expect(wt.code, wt.stdout).toBe(2);
    expect(wt.json.error.message).toMatch(/worktree/);
    expect(board.json('show', 'work').task.status).toBe('todo');
    expect(execFileSync('git', ['worktree', 'list'], { cwd: board.root, encoding: 'utf8' }).trim().split('\n')).toHaveLength(1);
    expect(execFileSync('git', ['branch', '--list', 'worker/*'], { cwd: board.root, encoding: 'utf8' }).trim()).toBe('');

    // Limits: max_parallel 1 with one child running; and depth.
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('max_parallel: 4', 'max_parallel: 1').replace('max_depth: 2', 'max_depth: 1'));
    board.run('add', 'other', '--id', 'other');
    const first = await as(board, lead, 'spawn', 'work', '--agent', 'hang');
    expect(first.code, first.stdout).toBe(0);
    const again = await as(board, lead, 'spawn', 'work', '--agent', 'hang');
    expect(again.json).toMatchObject({ reused: true, child: { session: first.json.child.session } });
    const over = await as(board, lead, 'spawn', 'other', '--agent', 'hang');
    expect([over.code, over.json.error.code]).toEqual([3, 'LIMIT_REACHED']);
    expect(board.json('show', 'other').task.status).toBe('todo');
    const deep = await batonAsync(['spawn', 'other', '--agent', 'hang', '--json'], { cwd: board.root, env: { ...lead.env, BATON_DEPTH: '1' } });
    expect(deep.json.error.message).toMatch(/max_depth is 1/);
    expect((await as(board, lead, 'kill', first.json.child.session)).json.signalled).toBe(true);
    expect((await as(board, lead, 'wait', 'work', '--timeout', '30')).json.finished).toBe(true);
  }, 120_000);

  it('a child killed mid-task: its lease is released and its parent notified with the exit signal and the log tail', async () => {
    const board = makeBoard();
    configureSpawn(board);
    board.run('add', 'long job', '--id', 'job');
    const lead = orchestrator(board);
    const r = await as(board, lead, 'spawn', 'job', '--agent', 'hang');
    expect(r.code, r.stdout).toBe(0);
    expect(board.json('show', 'job').task).toMatchObject({ status: 'in_progress', assignee: r.json.child.agent });
    process.kill(r.json.child.pid, 'SIGKILL');
    const w = (await as(board, lead, 'wait', r.json.child.session, '--timeout', '30')).json;
    expect(w).toMatchObject({ finished: true, child: { state: 'exited', signal: 'SIGKILL' }, task: { id: 'job', status: 'todo', lease: null } });
    const inbox = (await as(board, lead, 'inbox', '--kind', 'child-exited')).json.notifications;
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatchObject({ task: 'job', priority: 'high' });
    const exited = board.json('events', '--type', 'spawn.exited').events[0];
    expect(exited.data).toMatchObject({ signal: 'SIGKILL', unfinished: true });
    expect(exited.data.log_tail).toContain(`hanging on ${r.json.child.session}`);
  }, 120_000);
});

describe('demo', () => {
  it('a simulated team finishes the demo project, with a review sent back, a handoff and a CI gate', async () => {
    const dir = join(tempDir(), 'demo');
    const started = Date.now();
    const r = await batonAsync(['demo', '--dir', dir], { cwd: tempDir() });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(r.stdout).toContain(`The board: ${join(dir, 'project-plan', 'STATUS.md')}`);
    const events = readFileSync(join(dir, 'project-plan', 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const types = new Set(events.map((e) => e.type));
    for (const t of ['review.rejected', 'task.handed_off', 'handoff.taken', 'gate.resolved', 'goal.completed', 'spawn.exited']) expect(types, t).toContain(t);
    const state = boardState(join(dir, 'project-plan'));
    const statuses = Object.values<{ status: string }>(state.tasks).map((t) => t.status);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((st) => st !== 'done')).toEqual([]);
    // A live board to look at: a copy taken part-way, some work done and some still moving.
    const midway = join(dir, 'midway', 'project-plan');
    expect(r.stdout).toContain(`The board part-way, with work in flight: ${join(midway, 'STATUS.md')}`);
    const part = baton(['status', '--json'], { cwd: join(dir, 'midway') }).json;
    expect([part.board, part.counts.done > 0, part.counts.done < part.total]).toEqual([midway, true, true]);
    expect(part.in_progress.length + part.review_queue.length + part.gates.length).toBeGreaterThan(0);
    expect(readFileSync(join(midway, 'STATUS.md'), 'utf8')).toMatch(/\*\*Progress: [1-6] of 7 done\*\*/);
  }, 120_000);
});

describe('preflight and intake', () => {
  const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('preflight refuses a dirty tree or the default branch without a confirmation, records it, and --while-session reuses it', async () => {
    const board = await makeBoardIn();
    git(board.root, 'init', '-q', '-b', 'main');
    git(board.root, 'commit', '-q', '--allow-empty', '-m', 'base');
    const onMain = await board.json('preflight');
    expect([onMain._code, onMain.error.code]).toEqual([2, 'INVALID_INPUT']);
    expect(onMain.error.hint).toContain('--confirm-branch');
    writeFileSync(join(board.root, 'wip.txt'), 'x');
    const dirty = await board.json('preflight', '--confirm-branch');
    expect(dirty.error.details ?? dirty.error.changed).toBeTruthy();
    expect(dirty.error.hint).toContain('--confirm-workspace');
    expect(existsSync(join(board.dir, 'preflight.json'))).toBe(false);

    const lead = await board.json('orchestrator', 'start');
    const env = { BATON_SESSION: lead.session.id, BATON_TOKEN: lead.token };
    const ok = await batonIn(['preflight', '--confirm-branch', '--confirm-workspace', '--profile', 'safe', '--agents', '3', '--json'], { cwd: board.root, env });
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.json.preflight).toMatchObject({ branch: 'main', clean: false, changed: ['wip.txt'], profile: 'safe', agents: 3, confirmed: { workspace: true, branch: true }, session: lead.session.id });
    expect((await board.json('status')).profile).toBe('safe');
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain('profile **safe**');
    // Another agent of the same loop does not need to confirm again while that session lives.
    const again = await board.json('preflight', '--while-session');
    expect(again).toMatchObject({ _code: 0, reused: true });
  });

  it('preflight --profile changes config.yaml only under the board lock, whole, with a config.changed event doctor accepts', () => {
    const board = makeBoard();
    const cfg = join(board.dir, 'config.yaml');
    const before = readFileSync(cfg, 'utf8');
    expect(before).toMatch(/^profile: balanced$/m);
    // Held by a writer on another machine: preflight waits for it and changes nothing.
    const lockDir = join(board.dir, '.baton.lock');
    mkdirSync(lockDir);
    writeFileSync(join(lockDir, 'owner'), JSON.stringify({ pid: 1, host: `not-${hostname()}`, at: new Date().toISOString() }));
    const busy = board.json('preflight', '--profile', 'safe', '--lock-timeout', '0.5');
    expect([busy._code, busy.error.code]).toEqual([5, 'BOARD_BUSY']);
    expect(readFileSync(cfg, 'utf8')).toBe(before);
    rmSync(lockDir, { recursive: true });
    // A bad token is refused before anything is written: no profile, no event.
    const events0 = readFileSync(join(board.dir, 'events.jsonl'), 'utf8');
    const badToken = baton(['preflight', '--profile', 'safe', '--json'], { cwd: board.root, env: { BATON_SESSION: 'S-nobody', BATON_TOKEN: 'wrong' } });
    expect(badToken.code).not.toBe(0);
    expect(readFileSync(cfg, 'utf8')).toBe(before);
    expect(readFileSync(join(board.dir, 'events.jsonl'), 'utf8')).toBe(events0);

    const revision = board.json('status').revision;
    const ok = board.json('preflight', '--profile', 'safe');
    expect([ok._code, ok.preflight.profile, ok.revision]).toEqual([0, 'safe', revision + 1]);
    expect(readFileSync(cfg, 'utf8')).toBe(before.replace(/^profile: balanced$/m, 'profile: safe'));
    const events = readFileSync(join(board.dir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({ type: 'config.changed', revision: revision + 1, task: null, data: { file: 'config.yaml', changes: { profile: { from: 'balanced', to: 'safe' } } } });
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain('profile **safe**');
    expect(readdirSync(board.dir).filter((f) => f.includes('.tmp') || f.startsWith('.config.yaml'))).toEqual([]);
    const doctor = board.json('doctor');
    expect([doctor._code, doctor.healthy, doctor.profile]).toEqual([0, true, 'safe']);
    // The same profile again changes nothing: no event, the same revision.
    expect(board.json('preflight', '--profile', 'safe').revision).toBe(revision + 1);
    expect(board.json('status').revision).toBe(revision + 1);
  });

  it('intake suggests packages, their dependencies and TODO markers as candidates that serialise nothing until confirmed', async () => {
    const board = await makeBoardIn();
    const root = board.root;
    mkdirSync(join(root, 'packages', 'core', 'src'), { recursive: true });
    mkdirSync(join(root, 'packages', 'web'), { recursive: true });
    writeFileSync(join(root, 'packages', 'core', 'package.json'), JSON.stringify({ name: '@x/core' }));
    writeFileSync(join(root, 'packages', 'web', 'package.json'), JSON.stringify({ name: '@x/web', dependencies: { '@x/core': '1' } }));
    writeFileSync(join(root, 'packages', 'core', 'src', 'a.ts'), 'x\n// TODO: handle errors\n');
    git(root, 'init', '-q', '-b', 'work');
    git(root, 'add', 'packages');
    git(root, 'commit', '-q', '-m', 'init');
    const before = (await board.json('status')).revision;
    const scan = await board.json('intake');
    expect((await board.json('status')).revision).toBe(before);
    expect(scan.candidates.map((c: { id: string; candidate_depends_on: string[] }) => [c.id, c.candidate_depends_on])).toEqual([
      ['intake-pkg-packages-core', []],
      ['intake-pkg-packages-web', ['intake-pkg-packages-core']],
      ['intake-todo-packages-core-src-a-ts-2', ['intake-pkg-packages-core']],
    ]);
    expect((await board.json('intake', '--seed')).seeded).toHaveLength(3);
    expect((await board.json('intake', '--seed')).seeded).toEqual([]);
    // Candidates never serialise: the web package is ready although it "depends" on core.
    const ready = (await board.json('list', '--ready')).tasks.map((t: { id: string }) => t.id);
    expect(ready).toContain('intake-pkg-packages-web');
    const confirmed = (await board.json('edit', 'intake-pkg-packages-web', '--confirm-deps', '--confirm-paths')).task;
    expect(confirmed).toMatchObject({ depends_on: ['intake-pkg-packages-core'], owned_paths: ['packages/web/**'], candidate_depends_on: [], candidate_owned_paths: [] });
    expect((await board.json('list', '--ready')).tasks.map((t: { id: string }) => t.id)).not.toContain('intake-pkg-packages-web');
  });
});

describe('results by reference', () => {
  it('a spawned child finishes with a 200 KB result: stored once under results/, not in state.json; wait and ps give its reference and summary; result fetches it whole or cut', async () => {
    const board = makeBoard(['--profile', 'throughput']);
    configureSpawn(board, `\n    result:\n      command: ${JSON.stringify([process.execPath, FAKE, 'result', BIN])}`);
    board.run('add', 'produce it', '--id', 'r1');
    const lead = orchestrator(board);
    const spawned = await as(board, lead, 'spawn', 'r1', '--agent', 'result');
    expect(spawned.code, spawned.stdout).toBe(0);
    const w = await as(board, lead, 'wait', spawned.json.child.session, '--timeout', '120');
    expect(w.json, readFileSync(spawned.json.child.log, 'utf8')).toMatchObject({ finished: true, child: { exit_code: 0 }, task: { id: 'r1', status: 'done' } });
    const result = w.json.task.result;
    expect(result).toMatchObject({ size: 200 * 1024, kind: 'text' });
    expect(result.ref).toMatch(/^results\/[0-9a-f]{24}\.txt$/);
    expect(result.summary.startsWith('line 00000: rrrr')).toBe(true);
    expect(result.summary.length).toBeLessThanOrEqual(301);
    // The answers carry the reference, never the text; state.json neither.
    expect(w.stdout.length).toBeLessThan(10_000);
    const ps = await as(board, lead, 'ps', '--all');
    expect(ps.json.children.find((c: { session: string }) => c.session === spawned.json.child.session).result).toEqual(result);
    const state = JSON.stringify(boardState(board.dir), null, 2);
    expect(state).not.toContain('line 04000');
    expect(state.length).toBeLessThan(50_000);
    expect(readdirSync(join(board.dir, 'results'))).toEqual([result.ref.slice('results/'.length)]);
    expect(statSync(join(board.dir, result.ref)).size).toBe(200 * 1024);
    // Fetched whole, cut, and by the session that worked on it.
    const whole = board.json('result', 'r1');
    expect([whole.text.length, whole.truncated, whole.ref]).toEqual([200 * 1024, false, result.ref]);
    const cut = board.json('result', 'r1', '--max-chars', '100');
    expect([cut.text, cut.truncated]).toEqual([whole.text.slice(0, 100), true]);
    expect(board.json('result', spawned.json.child.session).ref).toBe(result.ref);
    expect(board.run('result', 'r1', '--max-chars', '12').stdout).toContain('line 00000: ');

    // The same result from another task is stored once; a JSON result is summarised by its keys.
    const worker = board.json('join', '--name', 'w', '--role', 'worker');
    const env = { BATON_SESSION: worker.session.id, BATON_TOKEN: worker.token };
    writeFileSync(join(board.root, 'same.txt'), whole.text);
    for (const [id, args] of [['r2', ['--result', 'same.txt']], ['r3', ['--result-text', '{"files":["a.ts"],"ok":true,"tests":12}']]] as const) {
      board.run('add', id, '--id', id);
      expect((await batonAsync(['claim', id, '--json'], { cwd: board.root, env })).code).toBe(0);
      const d = await batonAsync(['done', id, ...args, '--json'], { cwd: board.root, env });
      expect(d.code, d.stdout).toBe(0);
    }
    expect(board.json('show', 'r2').task.result.ref).toBe(result.ref);
    expect(board.json('show', 'r3').task.result).toMatchObject({ kind: 'json', summary: 'JSON object with key(s): files, ok, tests' });
    expect(readdirSync(join(board.dir, 'results')).sort()).toHaveLength(2);
    // A task without one says so.
    board.run('add', 'none', '--id', 'none');
    expect(board.json('result', 'none')).toMatchObject({ _code: 4, error: { code: 'NOT_FOUND' } });
    // A refused done stores nothing.
    board.run('add', 'r4', '--id', 'r4');
    expect((await batonAsync(['claim', 'r4', '--json'], { cwd: board.root, env })).code).toBe(0);
    const refused = await batonAsync(['done', 'r4', '--result-text', 'never stored', '--lease-token', 'wrong', '--json'], { cwd: board.root, env });
    expect(refused.code).toBe(3);
    expect(readdirSync(join(board.dir, 'results'))).toHaveLength(2);
    // A result file gone from the board (a clone that has not pulled it): NOT_FOUND, and doctor says so.
    rmSync(join(board.dir, board.json('show', 'r3').task.result.ref));
    expect(board.json('result', 'r3')).toMatchObject({ _code: 4, error: { code: 'NOT_FOUND' } });
    expect(board.json('doctor').checks.find((c: { name: string }) => c.name === 'results')).toMatchObject({ ok: false, level: 'warn' });
  }, 180_000);
});

describe('advise', () => {
  it('one machine shares the directory; three without shared storage sync through git; with it, a network file system with polling; one agent needs no reviewer', async () => {
    const board = await makeBoardIn();
    const one = await board.json('advise', '--agents', '4');
    expect(one).toMatchObject({ mode: 'one-directory', profile: 'balanced', watchers: 'events', facts: { agents: 4, machines: 1, shared_storage: null } });
    const three = await board.json('advise', '--agents', '6', '--machines', '3', '--shared-storage', 'no');
    expect(three).toMatchObject({ mode: 'git-sync', profile: 'safe', watchers: 'events' });
    expect(three.steps.join('\n')).toContain('claim-next --sync');
    expect(three.steps.at(-1)).toBe('baton preflight --profile safe --agents 6');
    expect(await board.json('advise', '--agents', '6', '--machines', '3', '--shared-storage', 'yes')).toMatchObject({ mode: 'network-file-system', watchers: 'polling' });
    expect((await board.json('advise')).profile).toBe('throughput');
    expect((await board.run('advise', '--machines', '3')).stdout).toContain('Share the board through a clone per machine');
    const bad = await board.json('advise', '--shared-storage', 'maybe');
    expect([bad._code, bad.error.code]).toEqual([2, 'INVALID_INPUT']);
    // The agents preflight recorded are the default, and preflight gives the advice too.
    const pre = await board.json('preflight', '--agents', '3');
    expect(pre.advice).toMatchObject({ mode: 'one-directory', profile: 'balanced', facts: { agents: 3 } });
    expect((await board.json('advise')).facts.agents).toBe(3);
  });
});

describe('spawning elsewhere, stopping runaways, cleaning up', () => {
  it('a child in another repository acts on this board; a sleeping child is stopped by its timeout, its task back in the queue and its parent told; gc keeps every result a task names', async () => {
    const board = makeBoard(['--profile', 'throughput']);
    configureSpawn(board, `\n    result:\n      command: ${JSON.stringify([process.execPath, FAKE, 'result', BIN])}`);
    const lead = orchestrator(board);
    board.run('add', 'done elsewhere', '--id', 'elsewhere');
    board.run('add', 'never finished', '--id', 'sleepy');

    // Another directory, another repository: the child runs there, on this board.
    const other = tempDir();
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: other });
    expect((await as(board, lead, 'spawn', 'elsewhere', '--agent', 'result', '--cwd', join(other, 'nope'))).json.error).toMatchObject({ code: 'INVALID_INPUT' });
    expect((await as(board, lead, 'spawn', 'elsewhere', '--agent', 'result', '--cwd', other, '--worktree')).json.error).toMatchObject({ code: 'INVALID_INPUT' });
    const away = await as(board, lead, 'spawn', 'elsewhere', '--agent', 'result', '--cwd', other);
    expect(away.code, away.stdout).toBe(0);
    const awayDone = await as(board, lead, 'wait', away.json.child.session, '--timeout', '120');
    expect(awayDone.json).toMatchObject({ finished: true, child: { exit_code: 0 }, task: { id: 'elsewhere', status: 'done' } });
    expect(readFileSync(away.json.child.log, 'utf8')).toContain(`cwd ${other}`);
    expect(existsSync(join(other, 'project-plan'))).toBe(false);

    // A child that sleeps past its timeout: stopped, its task todo again, the parent told.
    const sleeper = await as(board, lead, 'spawn', 'sleepy', '--agent', 'hang', '--timeout', '1');
    expect(sleeper.code, sleeper.stdout).toBe(0);
    const stopped = await as(board, lead, 'wait', sleeper.json.child.session, '--timeout', '60');
    expect(stopped.json).toMatchObject({ finished: true, child: { state: 'exited', signal: 'SIGTERM' } });
    expect(board.json('show', 'sleepy').task).toMatchObject({ status: 'todo', assignee: null, lease: null });
    const told = (await as(board, lead, 'inbox')).json.notifications.find((n: { kind: string }) => n.kind === 'child-timeout');
    // A grandchild that ignores SIGTERM is stopped too.
    const cfgPath = join(board.dir, 'config.yaml');
    writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace('    result:\n', `    stubborn:\n      command: ${JSON.stringify([process.execPath, FAKE, 'stubborn', BIN])}\n    result:\n`));
    board.run('add', 'stubborn', '--id', 'stubborn');
    const mule = await as(board, lead, 'spawn', 'stubborn', '--agent', 'stubborn', '--timeout', '1');
    expect(mule.code, mule.stdout).toBe(0);
    expect((await as(board, lead, 'wait', mule.json.child.session, '--timeout', '60')).json.finished).toBe(true);
    const grandchild = Number(/grandchild (\d+)/.exec(readFileSync(mule.json.child.log, 'utf8'))![1]);
    const gone = (pid: number) => {
      try {
        process.kill(pid, 0);
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
      } catch {
        return true;
      }
    };
    for (const deadline = Date.now() + 10_000; !gone(grandchild) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(gone(grandchild)).toBe(true);
    // So does `baton kill`: its SIGTERM ends the leader, and what ignored it is killed after.
    board.run('add', 'stubborn again', '--id', 'stubborn2');
    const mule2 = await as(board, lead, 'spawn', 'stubborn2', '--agent', 'stubborn');
    expect(mule2.code, mule2.stdout).toBe(0);
    let grandchild2 = 0;
    for (const deadline = Date.now() + 10_000; !grandchild2 && Date.now() < deadline; ) {
      grandchild2 = Number(/grandchild (\d+)/.exec(readFileSync(mule2.json.child.log, 'utf8'))?.[1] ?? 0);
      if (!grandchild2) await new Promise((r) => setTimeout(r, 50));
    }
    expect((await as(board, lead, 'kill', mule2.json.child.session)).json.signalled).toBe(true);
    expect((await as(board, lead, 'wait', mule2.json.child.session, '--timeout', '60')).json.finished).toBe(true);
    for (const deadline = Date.now() + 10_000; !gone(grandchild2) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
    expect(gone(grandchild2)).toBe(true);
    expect(told).toMatchObject({ task: 'sleepy', priority: 'high' });
    const exited = board.json('events', '--type', 'spawn.exited', '--task', 'sleepy').events.at(-1);
    expect(exited.data).toMatchObject({ timeout: true, timeout_seconds: 1, unfinished: true });

    // gc: the finished children's logs and prompts go; the result a task names stays, an old one no task names goes.
    const running = await as(board, lead, 'spawn', 'sleepy', '--agent', 'hang');
    expect(running.code, running.stdout).toBe(0);
    const named = board.json('show', 'elsewhere').task.result.ref;
    const orphan = join(board.dir, 'results', `${'0'.repeat(24)}.txt`);
    const fresh = join(board.dir, 'results', `${'1'.repeat(24)}.txt`);
    writeFileSync(orphan, 'from a refused done');
    writeFileSync(fresh, 'from a done in progress');
    const hoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(orphan, hoursAgo, hoursAgo);
    utimesSync(join(board.dir, named), hoursAgo, hoursAgo);
    const gc = board.json('gc', '--max-age-days', '0');
    expect(gc._code, JSON.stringify(gc)).toBe(0);
    expect([...gc.removed].sort()).toEqual(
      [...[away, sleeper, mule, mule2].flatMap((c) => [`runs/${c.json.child.session}.log`, `runs/${c.json.child.session}.prompt.md`]), `results/${'0'.repeat(24)}.txt`].sort(),
    );
    expect(gc.kept_results).toBe(1);
    expect(existsSync(join(board.dir, named))).toBe(true);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(running.json.child.log)).toBe(true);
    expect(board.json('result', 'elsewhere').size).toBe(200 * 1024);
    expect((await as(board, lead, 'kill', running.json.child.session)).code).toBe(0);
    await as(board, lead, 'wait', running.json.child.session, '--timeout', '60');
    expect(board.json('doctor').healthy).toBe(true);
  }, 180_000);
});

describe('checkpoints', () => {
  it('a child asks its parent and waits; the parent answers from another process and the child wakes with the answer; without --watch the id comes back at once; a question to an ended parent goes to the orchestrator', async () => {
    const board = makeBoard(['--profile', 'throughput']);
    const lead = orchestrator(board);
    const p = board.json('join', '--name', 'parent', '--role', 'worker');
    const parent: Joined = { agent: p.agent.id, env: { BATON_SESSION: p.session.id, BATON_TOKEN: p.token } };
    const c = board.json('join', '--name', 'child', '--role', 'worker', '--parent', p.session.id);
    const child: Joined = { agent: c.agent.id, env: { BATON_SESSION: c.session.id, BATON_TOKEN: c.token } };
    board.run('add', 'pick a database', '--id', 'db');
    expect((await as(board, child, 'claim', 'db')).code).toBe(0);

    // The child stops at its checkpoint, in a process of its own.
    const asking = as(board, child, 'ask', '--to', 'parent', 'Which', 'database?', '--choices', 'postgres,sqlite', '--watch', '60');
    const told = await as(board, parent, 'inbox', '--watch', '30');
    expect(told.json.notifications.map((n: { kind: string }) => n.kind)).toContain('question');
    const advice = (await as(board, parent, 'next')).json;
    expect(advice).toMatchObject({ action: 'answer', tool: { name: 'answer' } });
    const qid = advice.tool.arguments.id as string;
    expect(advice.command).toBe(`baton answer ${qid} "…"`);
    // The notification names its question as a field: an agent answers it without parsing the text.
    expect(told.json.notifications.find((n: { kind: string }) => n.kind === 'question')).toMatchObject({ question: qid, task: 'db' });
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain('## Open questions');
    const row = readFileSync(join(board.dir, 'STATUS.md'), 'utf8').split('\n').find((l) => l.startsWith(`| \`${qid}\``));
    expect(row).toContain('| `child` | `agent:parent` | `db` | Which database?');
    expect(row).toContain('postgres / sqlite');
    const wrong = await as(board, parent, 'answer', qid, 'mysql');
    expect([wrong.code, wrong.json.error.code]).toEqual([2, 'INVALID_INPUT']);
    const answered = await as(board, parent, 'answer', qid, 'sqlite');
    expect(answered.code, answered.stdout).toBe(0);
    const woke = await asking;
    expect(woke.code, woke.stdout).toBe(0);
    expect(woke.json).toMatchObject({ answered: true, question: { id: qid, to: `agent:${parent.agent}`, task: 'db', answer: { text: 'sqlite', by: parent.agent } } });
    expect((await as(board, child, 'inbox')).json.notifications.find((n: { kind: string }) => n.kind === 'answer')).toMatchObject({ question: qid });
    const twice = await as(board, parent, 'answer', qid, 'postgres');
    expect([twice.code, twice.json.error.code]).toEqual([3, 'INVALID_TRANSITION']);
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).not.toContain('## Open questions');

    // Without --watch: the id at once; the orchestrator's next is to answer it.
    const quick = await as(board, child, 'ask', '--to', 'orchestrator', 'Ship', 'it?');
    expect(quick.json).toMatchObject({ answered: false, question: { to: 'orchestrator', answer: null } });
    expect((await as(board, lead, 'next')).json).toMatchObject({ action: 'answer', tool: { name: 'answer', arguments: { id: quick.json.question.id } } });
    expect((await as(board, lead, 'answer', quick.json.question.id, 'yes')).code).toBe(0);
    // A parent that has ended can't answer: the question goes to the orchestrator.
    expect((await as(board, parent, 'leave')).code).toBe(0);
    const orphan = await as(board, child, 'ask', '--to', 'parent', 'Still', 'there?');
    expect(orphan.json.question).toMatchObject({ to: 'orchestrator', asked_to: 'parent' });
    // An asker that leaves withdraws its open questions: nobody is told to answer them.
    expect((await as(board, lead, 'next')).json.action).toBe('answer');
    expect((await as(board, child, 'leave')).code).toBe(0);
    expect((await as(board, lead, 'next')).json.action).not.toBe('answer');
    const late = await as(board, lead, 'answer', orphan.json.question.id, 'yes');
    expect([late.code, late.json.error.code]).toEqual([3, 'INVALID_TRANSITION']);
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).not.toContain('## Open questions');
    expect(board.json('doctor').healthy).toBe(true);
  }, 120_000);

  it('an asker waiting on its answer keeps its lease: nobody takes its task meanwhile', async () => {
    const board = makeBoard(['--profile', 'throughput']);
    const cfg = join(board.dir, 'config.yaml');
    // A 4 s lease, renewed every 4/3 s while the asker waits: a stall of over 2 s would be needed to lose it.
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^lease_ttl_seconds: .*$/m, 'lease_ttl_seconds: 4').replace(/^clock_skew_seconds: .*$/m, 'clock_skew_seconds: 0'));
    const lead = orchestrator(board);
    const asker = board.json('join', '--name', 'asker', '--role', 'worker');
    const askerEnv: Joined = { agent: asker.agent.id, env: { BATON_SESSION: asker.session.id, BATON_TOKEN: asker.token } };
    const other = board.json('join', '--name', 'other', '--role', 'worker');
    const otherEnv: Joined = { agent: other.agent.id, env: { BATON_SESSION: other.session.id, BATON_TOKEN: other.token } };
    board.run('add', 'held while asking', '--id', 'held');
    const claimed = await as(board, askerEnv, 'claim', 'held');
    expect(claimed.code).toBe(0);
    const asking = as(board, askerEnv, 'ask', '--to', 'orchestrator', 'Go', 'on?', '--watch', '30');
    // Well past the lease's first expiry, by the wall clock: the thing under test is the deadline.
    const deadline = Date.parse(claimed.json.lease.expires_at) + 3_000;
    await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())));
    const taken = await as(board, otherEnv, 'claim', 'held');
    expect([taken.code, taken.json.error?.code]).toEqual([3, 'LEASE_CONFLICT']);
    const q = (await as(board, lead, 'next')).json.tool.arguments.id;
    expect((await as(board, lead, 'answer', q, 'yes')).code).toBe(0);
    expect((await asking).json).toMatchObject({ answered: true, question: { answer: { text: 'yes' } } });
    expect(board.json('show', 'held').task).toMatchObject({ status: 'in_progress', assignee: 'asker' });
  }, 60_000);
});
