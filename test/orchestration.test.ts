import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batonAsync, makeBoard, type Run, type TestBoard } from './helpers.js';

/** Orchestration: goals, gates and signals (more of it as the orchestration work lands). */

interface Joined {
  agent: string;
  env: Record<string, string>;
}

function joinAs(board: TestBoard, name: string, role = 'worker'): Joined {
  const r = board.json('join', '--name', name, '--role', role);
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { agent: r.agent.id, env: { BATON_SESSION: r.session.id, BATON_TOKEN: r.token } };
}

const as = (board: TestBoard, who: Joined, ...args: string[]): Promise<Run> => batonAsync([...args, '--json'], { cwd: board.root, env: who.env });

describe('gates and signals', () => {
  it('a signal resolves exactly the gates whose fields all agree; partial matches and match-less gates stay waiting', () => {
    const board = makeBoard();
    board.run('add', 'CI for PR 42', '--id', 'ci42', '--kind', 'gate', '--gate-type', 'ci', '--match', 'repo=web,pr=42');
    board.run('add', 'CI for PR 43', '--id', 'ci43', '--kind', 'gate', '--gate-type', 'ci', '--match', 'repo=web,pr=43');
    board.run('add', 'any CI', '--id', 'bare', '--kind', 'gate', '--gate-type', 'ci');
    board.run('add', 'human ok', '--id', 'human', '--kind', 'gate', '--gate-type', 'human_approval', '--match', 'repo=web,pr=42');
    board.run('add', 'deploy', '--id', 'deploy', '--depends-on', 'ci42');
    expect(board.json('show', 'ci42').task.status).toBe('waiting');
    expect(board.json('list', '--ready').tasks.map((t: { id: string }) => t.id)).toEqual([]);

    const partial = board.json('signal', '--type', 'ci', '--match', 'repo=web', '--outcome', 'success');
    expect(partial.resolved).toEqual([]);
    const exact = board.json('signal', '--type', 'ci', '--match', 'repo=web,pr=42,sha=abc', '--outcome', 'success');
    expect(exact.resolved.map((t: { id: string }) => t.id)).toEqual(['ci42']);
    const tasks = new Map(board.json('list').tasks.map((t: { id: string; status: string }) => [t.id, t.status]));
    expect(Object.fromEntries(tasks)).toMatchObject({ ci42: 'done', ci43: 'waiting', bare: 'waiting', human: 'waiting', deploy: 'todo' });
    expect(board.json('list', '--ready').tasks.map((t: { id: string }) => t.id)).toEqual(['deploy']);
    const events = board.json('events', '--type', 'task.ready').events;
    expect(events.map((e: { task: string; notify: { kind: string } }) => [e.task, e.notify.kind])).toEqual([['deploy', 'unblocked']]);

    // Gates are never claimed, and a match-less gate only resolves by id.
    expect(board.json('signal', 'bare', '--outcome', 'success').resolved.map((t: { id: string }) => t.id)).toEqual(['bare']);
    expect(board.json('signal', 'deploy', '--outcome', 'success')._code).toBe(3);
  });

  it('failure blocks the gate and notifies; unblock puts it back to waiting for the next signal', async () => {
    const board = makeBoard();
    board.run('add', 'CI', '--id', 'ci', '--kind', 'gate', '--gate-type', 'ci', '--match', 'pr=7');
    const lead = joinAs(board, 'lead', 'orchestrator');
    const failed = board.json('signal', '--type', 'ci', '--match', 'pr=7', '--outcome', 'failure', '--notes', 'tests red');
    expect(failed.resolved[0]).toMatchObject({ id: 'ci', status: 'blocked', blocked: { reason: 'ci signal failed: tests red', previous: 'waiting' } });
    const inbox = (await as(board, lead, 'inbox', '--kind', 'blocker')).json;
    expect(inbox.notifications.map((n: { task: string }) => n.task)).toEqual(['ci']);
    expect(board.json('unblock', 'ci').task.status).toBe('waiting');
    expect(board.json('signal', '--type', 'ci', '--match', 'pr=7', '--outcome', 'success').resolved[0].status).toBe('done');
    expect(board.json('signal', '--type', 'ci', '--outcome', 'maybe')._code).toBe(2);
  });
});

describe('goals', () => {
  it('a goal is never claimed, shows its tree with progress, and is done when all its children are', async () => {
    const board = makeBoard(['--profile', 'throughput']);
    board.run('add', 'Ship v1', '--id', 'v1', '--kind', 'goal');
    board.run('add', 'Backend', '--id', 'be', '--kind', 'goal', '--parent', 'v1');
    board.run('add', 'API', '--id', 'api', '--parent', 'be');
    board.run('add', 'DB', '--id', 'db', '--parent', 'be');
    board.run('add', 'Docs', '--id', 'docs', '--parent', 'v1');
    board.run('add', 'Announce', '--id', 'announce', '--depends-on', 'v1');
    const w = joinAs(board, 'w');
    expect((await as(board, w, 'claim', 'v1')).json.error.code).toBe('INVALID_TRANSITION');

    for (const id of ['api', 'db']) {
      expect((await as(board, w, 'claim', id)).code).toBe(0);
      expect((await as(board, w, 'done', id)).code).toBe(0);
    }
    let show = board.json('show', 'v1');
    expect(show.progress).toEqual({ done: 3, cancelled: 0, total: 4 });
    expect(show.children.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([['be', 'done'], ['docs', 'todo']]);
    expect(show.children[0].children.map((c: { id: string }) => c.id)).toEqual(['api', 'db']);
    expect(show.task.status).toBe('todo');

    expect(board.json('cancel', 'docs').task.status).toBe('cancelled');
    show = board.json('show', 'v1');
    expect(show.task.status).toBe('done');
    expect(show.progress).toEqual({ done: 3, cancelled: 1, total: 4 });
    expect(board.json('events', '--type', 'goal.completed').events.map((e: { task: string }) => e.task)).toEqual(['be', 'v1']);
    expect(board.json('list', '--ready').tasks.map((t: { id: string }) => t.id)).toEqual(['announce']);
  });
});

describe('the canonical orchestrator, prompts and AGENTS.md', () => {
  it('orchestrator start twice gives one session; --relaunch ends the old one and frees its leases; stray orchestrators never become canonical', async () => {
    const board = makeBoard();
    board.run('add', 'x', '--id', 'x');
    const stray = joinAs(board, 'test-orchestrator-2', 'orchestrator');
    const first = board.json('orchestrator', 'start');
    expect(first._code).toBe(0);
    expect(first).toMatchObject({ reused: false, agent: { id: 'test-orchestrator', role: 'orchestrator' }, session: { canonical: true } });
    expect(first.token).toEqual(expect.any(String));
    const again = board.json('orchestrator', 'start');
    expect(again).toMatchObject({ reused: true, token: null, session: { id: first.session.id } });
    expect(board.json('sessions').sessions.filter((s: { canonical: boolean }) => s.canonical).map((s: { id: string }) => s.id)).toEqual([first.session.id]);

    const orch = { agent: first.agent.id, env: { BATON_SESSION: first.session.id, BATON_TOKEN: first.token } };
    expect((await as(board, orch, 'claim', 'x')).code).toBe(0);
    const relaunched = board.json('orchestrator', 'start', '--relaunch');
    expect(relaunched).toMatchObject({ reused: false, ended: first.session.id });
    expect(relaunched.session.id).not.toBe(first.session.id);
    expect(board.json('show', 'x').task).toMatchObject({ status: 'todo', lease: null, assignee: null });
    expect((await as(board, orch, 'next')).json.error.code).toBe('SESSION_ENDED');
    const sessions = board.json('sessions', '--all').sessions;
    expect(sessions.filter((s: { canonical: boolean }) => s.canonical).map((s: { id: string }) => s.id)).toEqual([relaunched.session.id]);
    expect(sessions.find((s: { agent: string }) => s.agent === stray.agent).canonical).toBe(false);
  });

  it('prompt renders the role loop, the board, the orchestrator and the task; a board copy overrides the template', () => {
    const board = makeBoard();
    board.run('add', 'Build the API', '--id', 'api', '--paths', 'src/api/**', '--description', 'REST endpoints');
    board.json('orchestrator', 'start');
    const p = board.json('prompt', 'worker', '--task', 'api');
    expect(p.prompt).toContain('baton next --json');
    expect(p.prompt).toContain('baton heartbeat --task ID');
    expect(p.prompt).toContain('baton send --to orchestrator');
    expect(p.prompt).toContain(board.dir);
    expect(p.prompt).toContain('## Your task: api');
    expect(p.prompt).toContain('Owned paths: src/api/**');
    expect(board.json('prompt', 'reviewer').prompt).toContain('baton review approve ID');
    expect(board.json('prompt', 'boss')._code).toBe(2);
    mkdirSync(join(board.dir, 'templates', 'prompts'), { recursive: true });
    writeFileSync(join(board.dir, 'templates', 'prompts', 'worker.md'), 'Custom for {{project}}\n{{task}}\n');
    expect(board.json('prompt', 'worker', '--task', 'api').prompt).toMatch(/^Custom for test\n## Your task: api/);
    expect(board.run('prompt', 'worker').stdout).toBe('Custom for test\n');
  });

  it('init --agents-md writes the marked section once, refreshes it in place, and touches CLAUDE.md only if present', () => {
    const board = makeBoard(['--agents-md']);
    const agents = join(board.root, 'AGENTS.md');
    const first = readFileSync(agents, 'utf8');
    expect(first).toContain('<!-- baton:start -->');
    expect(first).toContain('baton next');
    expect(existsSync(join(board.root, 'CLAUDE.md'))).toBe(false);
    writeFileSync(join(board.root, 'CLAUDE.md'), '# Notes for Claude\n\nKeep it short.\n');
    writeFileSync(agents, first.replace('## Coordination: baton', '## stale heading'));
    const again = board.json('init', '--agents-md');
    expect(again._code).toBe(0);
    expect(readFileSync(agents, 'utf8')).toBe(first);
    const claude = readFileSync(join(board.root, 'CLAUDE.md'), 'utf8');
    expect(claude.startsWith('# Notes for Claude\n\nKeep it short.\n\n<!-- baton:start -->')).toBe(true);
    board.json('init', '--agents-md');
    expect(readFileSync(join(board.root, 'CLAUDE.md'), 'utf8')).toBe(claude);
    expect(claude.match(/baton:start/g)).toHaveLength(1);
    expect(board.json('init')._code).toBe(2);
  });
});
