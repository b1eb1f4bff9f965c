import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batonAsync, batonIn, makeBoard, makeBoardIn, readJsonl, type Run, type TestBoard, type TestBoardIn } from './helpers.js';

/**
 * Agents at work: identity, sessions, leases, ranked claims and review. Agents working at once,
 * and a waiter woken by another agent, are real processes; request and answer run in-process.
 */

interface Joined {
  agent: string;
  session: string;
  token: string;
  env: Record<string, string>;
}

function joinAs(board: TestBoard, name: string, role = 'worker', extra: string[] = []): Joined {
  const r = board.json('join', '--name', name, '--role', role, ...extra);
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { agent: r.agent.id, session: r.session.id, token: r.token, env: { BATON_SESSION: r.session.id, BATON_TOKEN: r.token } };
}

/** Runs as an agent (its session and token in the environment), --json. */
const as = (board: TestBoard, who: Joined, ...args: string[]): Promise<Run> => batonAsync([...args, '--json'], { cwd: board.root, env: who.env });

async function joinAsIn(board: TestBoardIn, name: string, role = 'worker', extra: string[] = []): Promise<Joined> {
  const r = await board.json('join', '--name', name, '--role', role, ...extra);
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { agent: r.agent.id, session: r.session.id, token: r.token, env: { BATON_SESSION: r.session.id, BATON_TOKEN: r.token } };
}

/** As `as`, in-process. */
const asIn = (board: TestBoardIn, who: Joined, ...args: string[]): Promise<Run> => batonIn([...args, '--json'], { cwd: board.root, env: who.env });

function setConfig(board: { dir: string }, key: string, value: string) {
  const path = join(board.dir, 'config.yaml');
  writeFileSync(path, readFileSync(path, 'utf8').replace(new RegExp(`^${key}: .*$`, 'm'), `${key}: ${value}`));
}

/** Waits until a wall-clock instant has passed: the thing under test is a deadline. */
async function until(iso: string) {
  const ms = Date.parse(iso) - Date.now() + 50;
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

describe('eight agents finish a 200-task board', () => {
  it('every task claimed once at a time, done once, never before its dependencies, never two overlapping paths in flight', async () => {
    const board = makeBoard();
    // 20 modules × 10 tasks: each task waits for the previous one of its module, and a few cross over.
    const tasks = Array.from({ length: 200 }, (_, i) => {
      const mod = i % 20;
      const deps = i >= 20 ? [`t${i - 20}`] : [];
      if (i % 13 === 0 && i >= 40) deps.push(`t${i - 39}`);
      return { id: `t${i}`, title: `task ${i}`, depends_on: deps, paths: [`mod${mod}/**`], priority: i % 4, review: false };
    });
    writeFileSync(join(board.root, 'plan.json'), JSON.stringify(tasks));
    expect(board.run('import', 'plan.json').code).toBe(0);
    const agents = Array.from({ length: 8 }, (_, i) => joinAs(board, `agent${i}`));

    // Each problem is printed as it happens, and the agents stop when the time runs out, so a failure
    // is reported with what went wrong (and the tasks left undone) rather than as the test's timeout.
    const deadline = Date.now() + 370_000;
    const loop = async (me: Joined) => {
      const problems: string[] = [];
      const problem = (what: string) => {
        problems.push(`${me.agent}: ${what}`);
        process.stderr.write(`agents test: ${me.agent}: ${what}\n`);
      };
      for (let rounds = 0; rounds < 400 && Date.now() < deadline; rounds++) {
        const c = await as(board, me, 'claim-next', '--watch', '5', '--lock-timeout', '60');
        if (c.code === 0) {
          const d = await as(board, me, 'done', c.json.task.id, '--lease-token', c.json.lease_token, '--lock-timeout', '60');
          if (d.code !== 0) problem(`done ${c.json.task.id}: ${d.code} ${d.stdout} ${d.stderr}`);
          continue;
        }
        if (c.code !== 6) {
          problem(`claim-next: ${c.code} ${c.stdout} ${c.stderr}`);
          continue;
        }
        const n = await as(board, me, 'next');
        if (n.json?.action === 'idle') return problems;
      }
      problem('gave up (400 rounds or 370 s)');
      return problems;
    };
    const problems = (await Promise.all(agents.map(loop))).flat();
    const left = board.json('list').tasks.filter((t: { status: string }) => t.status !== 'done');
    expect(problems, `tasks not done: ${JSON.stringify(left.slice(0, 10))}`).toEqual([]);

    const list = board.json('list');
    expect(list.tasks.every((t: { status: string }) => t.status === 'done')).toBe(true);

    // Replay the log: claims, completions, dependencies and paths in flight at every instant.
    const events = readJsonl(join(board.dir, 'events.jsonl'));
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const deps = new Map(tasks.map((t) => [t.id, t.depends_on]));
    const done = new Set<string>();
    const inFlight = new Map<string, string>(); // task → module path
    const claims = new Map<string, number>();
    for (const e of events) {
      if (e.type === 'task.claimed') {
        claims.set(e.task, (claims.get(e.task) ?? 0) + 1);
        expect(inFlight.has(e.task), `${e.task} claimed while in flight`).toBe(false);
        for (const d of deps.get(e.task)!) expect(done.has(d), `${e.task} started before ${d} was done`).toBe(true);
        const path = `mod${Number(e.task.slice(1)) % 20}/**`;
        expect([...inFlight.values()], `${e.task} overlaps work in flight`).not.toContain(path);
        inFlight.set(e.task, path);
      }
      if (e.type === 'task.done') {
        expect(done.has(e.task), `${e.task} done twice`).toBe(false);
        expect(inFlight.has(e.task)).toBe(true);
        inFlight.delete(e.task);
        done.add(e.task);
      }
    }
    expect(done.size).toBe(200);
    expect([...claims.values()].every((n) => n === 1)).toBe(true);
    // Work was shared: more than one agent finished something.
    const finishers = new Set(events.filter((e) => e.type === 'task.done').map((e) => e.actor));
    expect(finishers.size).toBeGreaterThan(1);
    const doctor = board.json('doctor');
    expect(doctor.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
  }, 400_000);
});

describe('leases', () => {
  it('a silent holder loses the task to another agent, is told, and its late done is refused', async () => {
    const board = await makeBoardIn();
    setConfig(board, 'lease_ttl_seconds', '2');
    // One machine, one clock: no allowance for skew between machines.
    setConfig(board, 'clock_skew_seconds', '0');
    await board.run('add', 'the work', '--id', 'work', '--no-review');
    const a = await joinAsIn(board, 'silent');
    const b = await joinAsIn(board, 'busy');
    const claimed = await asIn(board, a, 'claim', 'work');
    expect(claimed.code).toBe(0);
    const token = claimed.json.lease_token;
    // Before expiry, nobody else can have it.
    expect((await asIn(board, b, 'claim', 'work')).json.error.code).toBe('LEASE_CONFLICT');
    await until(claimed.json.lease.expires_at);

    const taken = await asIn(board, b, 'claim-next');
    expect(taken.code, taken.stdout).toBe(0);
    expect(taken.json.task.id).toBe('work');
    expect(taken.json.task.assignee).toBe(b.agent);

    const late = await asIn(board, a, 'done', 'work', '--lease-token', token);
    expect(late.code).toBe(3);
    expect(late.json.error.code).toBe('LEASE_CONFLICT');
    expect(late.json.error.message).toMatch(new RegExp(`expired at .*now held by ${b.agent}`));
    expect((await asIn(board, a, 'heartbeat', '--task', 'work')).json.error.code).toBe('LEASE_CONFLICT');
    expect((await asIn(board, a, 'release', 'work')).json.error.code).toBe('LEASE_CONFLICT');

    const events = readJsonl(join(board.dir, 'events.jsonl'));
    const expired = events.find((e) => e.type === 'lease.expired');
    expect(expired.notify).toEqual({ targets: [`agent:${a.agent}`], kind: 'lease-expired', priority: 'high' });
    expect(expired.data.previous_session).toBe(a.session);

    expect((await asIn(board, b, 'done', 'work', '--lease-token', taken.json.lease_token)).code).toBe(0);
  });

  it('an old lease token is refused after a re-claim, even by the same agent', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'x', '--id', 'x');
    const a = await joinAsIn(board, 'a');
    const first = await asIn(board, a, 'claim', 'x');
    expect((await asIn(board, a, 'release', 'x')).code).toBe(0);
    const second = await asIn(board, a, 'claim', 'x');
    expect(second.code).toBe(0);
    const stale = await asIn(board, a, 'heartbeat', '--task', 'x', '--lease-token', first.json.lease_token);
    expect(stale.json.error.code).toBe('LEASE_CONFLICT');
    expect((await asIn(board, a, 'heartbeat', '--task', 'x', '--lease-token', second.json.lease_token)).code).toBe(0);
  });

  it('a stale session is reaped and its work released; one that keeps heartbeating never is', async () => {
    const board = await makeBoardIn();
    // Sessions lapse after 4 s of silence; leases are long, so only the session reaping is at work.
    setConfig(board, 'session_ttl_seconds', '4');
    setConfig(board, 'clock_skew_seconds', '0');
    await board.run('add', 'one', '--id', 'one');
    await board.run('add', 'two', '--id', 'two');
    const quiet = await joinAsIn(board, 'quiet');
    const alive = await joinAsIn(board, 'alive');
    expect((await asIn(board, quiet, 'claim', 'one')).code).toBe(0);
    const held = await asIn(board, alive, 'claim', 'two');
    expect(held.code).toBe(0);
    const deadline = new Date(Date.now() + 4_500).toISOString();
    const ended: string[] = [];
    const released: string[] = [];
    // The live agent heartbeats, and reap runs, until the quiet one is well past its TTL.
    const round = async () => {
      const hb = await asIn(board, alive, 'heartbeat');
      expect(hb.code).toBe(0);
      expect(hb.json.lost).toEqual([]);
      const reap = await asIn(board, alive, 'reap');
      expect(reap.code).toBe(0);
      ended.push(...reap.json.ended_sessions);
      released.push(...reap.json.released, ...reap.json.expired_leases);
    };
    while (Date.now() < Date.parse(deadline)) await round();
    await until(deadline);
    await round();
    expect(ended).toEqual([quiet.session]);
    expect(released).toEqual(['one']);

    const sessions = (await board.json('sessions', '--all')).sessions;
    expect(sessions.find((s: { id: string }) => s.id === quiet.session).state).toBe('ended');
    expect(sessions.find((s: { id: string }) => s.id === alive.session).state).toBe('live');
    const tasks = (await board.json('list')).tasks;
    expect(tasks.find((t: { id: string }) => t.id === 'one')).toMatchObject({ status: 'todo', assignee: null, lease: null });
    expect(tasks.find((t: { id: string }) => t.id === 'two')).toMatchObject({ status: 'in_progress', assignee: alive.agent });
    const after = await asIn(board, quiet, 'next');
    expect(after.code).toBe(8);
    expect(after.json.error.code).toBe('SESSION_ENDED');
  });
});

describe('identity and refusals', () => {
  it('join: stable agent per name and host, a new session each time, token only hashed, --export for eval', async () => {
    const board = await makeBoardIn();
    const one = await joinAsIn(board, 'Alice', 'worker', ['--specialty', 'backend,docs', '--host', 'box1']);
    const two = await joinAsIn(board, 'Alice', 'reviewer', ['--host', 'box1']);
    const other = await joinAsIn(board, 'Alice', 'worker', ['--host', 'box2']);
    expect(two.agent).toBe(one.agent);
    expect(two.session).not.toBe(one.session);
    expect(other.agent).not.toBe(one.agent);
    const state = readFileSync(join(board.dir, 'state.json'), 'utf8');
    expect(state).not.toContain(one.token);
    expect(state).toContain('token_hash');
    const agents = await board.json('agents');
    expect(JSON.stringify(agents)).not.toContain('token_hash');
    expect(agents.agents.find((a: { id: string }) => a.id === one.agent)).toMatchObject({ role: 'reviewer', specialties: ['backend', 'docs'] });

    const exp = await board.run('join', '--name', 'bob', '--role', 'worker', '--export');
    expect(exp.code).toBe(0);
    expect(exp.stdout).toMatch(/^export BATON_DIR='.+'\nexport BATON_AGENT='bob'\nexport BATON_SESSION='s-[a-z0-9]+'\nexport BATON_TOKEN='[\w-]+'\n$/);
    const child = await joinAsIn(board, 'kid', 'worker', ['--parent', one.session]);
    expect((await board.json('sessions')).sessions.find((s: { id: string }) => s.id === child.session)).toMatchObject({ parent: one.session, depth: 1 });
    expect(readFileSync(join(board.dir, 'SESSIONS.md'), 'utf8')).toContain(`\`${child.session}\``);
    expect(readFileSync(join(board.dir, 'AGENTS.md'), 'utf8')).toContain('`alice`');
  });

  it('missing, wrong and ended credentials, someone else\'s task and self-review are each refused with their code', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'x', '--id', 'x');
    const a = await joinAsIn(board, 'author');
    const r = await joinAsIn(board, 'checker', 'reviewer');
    const none = await batonIn(['next', '--json'], { cwd: board.root });
    expect([none.code, none.json.error.code]).toEqual([8, 'AUTH_REQUIRED']);
    expect(none.json.error.hint).toContain('baton join');
    const wrong = await batonIn(['next', '--json'], { cwd: board.root, env: { BATON_SESSION: a.session, BATON_TOKEN: 'nope' } });
    expect([wrong.code, wrong.json.error.code]).toEqual([8, 'AUTH_FAILED']);
    const flags = await batonIn(['next', '--json', '--session', a.session, '--token', a.token], { cwd: board.root });
    expect(flags.code).toBe(0);

    expect((await asIn(board, a, 'claim', 'x')).code).toBe(0);
    const theirs = await asIn(board, r, 'done', 'x');
    expect([theirs.code, theirs.json.error.code]).toEqual([3, 'LEASE_CONFLICT']);
    expect((await asIn(board, a, 'done', 'x')).json.task.status).toBe('review');

    const self = await asIn(board, a, 'review', 'start', 'x');
    expect([self.code, self.json.error.code]).toEqual([3, 'NOT_YOURS']);
    expect(self.json.error.message).toMatch(/another agent must review/);

    expect((await asIn(board, a, 'leave')).code).toBe(0);
    const gone = await asIn(board, a, 'next');
    expect([gone.code, gone.json.error.code]).toEqual([8, 'SESSION_ENDED']);
    // Nothing above that failed wrote anything: one event per successful mutation.
    const events = readJsonl(join(board.dir, 'events.jsonl'));
    expect(events.at(-1).revision).toBe((await board.json('status')).revision);
  });
});

describe('review and next', () => {
  it('done goes to review; a rejection returns to its author through next; approval finishes it', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'feature', '--id', 'f', '--specialty', 'web', '--priority', 'P1');
    await board.run('add', 'after', '--id', 'after', '--depends-on', 'f');
    const w = await joinAsIn(board, 'writer', 'worker', ['--specialty', 'web']);
    const rv = await joinAsIn(board, 'reader', 'reviewer', ['--specialty', 'web']);
    const other = await joinAsIn(board, 'other', 'reviewer', ['--specialty', 'db']);

    let n = (await asIn(board, w, 'next')).json;
    expect([n.action, n.task.id, n.command]).toEqual(['claim', 'f', 'baton claim f --json']);
    expect((await asIn(board, w, 'claim', 'f')).code).toBe(0);
    n = (await asIn(board, w, 'next')).json;
    expect([n.action, n.task.id]).toEqual(['continue', 'f']);
    expect((await asIn(board, w, 'done', 'f', '--notes', 'first try')).json.task.status).toBe('review');
    expect((await asIn(board, rv, 'next')).json).toMatchObject({ action: 'review', command: 'baton review start f --json' });
    expect((await asIn(board, other, 'review', 'next')).code).toBe(6);
    expect((await asIn(board, rv, 'review', 'next')).json.task).toMatchObject({ id: 'f', status: 'in_review', reviewer: rv.agent });
    expect((await asIn(board, rv, 'review', 'reject', 'f')).code).toBe(2);
    const rejected = await asIn(board, rv, 'review', 'reject', 'f', '--notes', 'needs tests');
    expect(rejected.json.task).toMatchObject({ status: 'changes_requested', assignee: w.agent });

    n = (await asIn(board, w, 'next')).json;
    expect([n.action, n.task.id, n.command]).toEqual(['address-review', 'f', 'baton claim f --json']);
    expect((await asIn(board, rv, 'claim', 'f')).json.error.code).toBe('NOT_YOURS');
    expect((await asIn(board, w, 'claim', 'f')).json.task.status).toBe('in_progress');
    expect((await asIn(board, w, 'done', 'f')).code).toBe(0);
    expect((await asIn(board, rv, 'review', 'start', 'f')).code).toBe(0);
    const approved = await asIn(board, rv, 'review', 'approve', 'f', '--notes', 'good');
    expect(approved.json.task.status).toBe('done');
    expect(approved.json.task.notes.map((x: { text: string }) => x.text)).toEqual(['first try', 'needs tests', 'good']);

    const events = readJsonl(join(board.dir, 'events.jsonl'));
    const kinds = events.filter((e) => e.notify).map((e) => [e.type, e.notify.kind, e.notify.targets.join(',')]);
    expect(kinds).toEqual([
      ['task.submitted', 'review-ready', 'reviewers:web'],
      ['review.rejected', 'changes-requested', `agent:${w.agent}`],
      ['task.submitted', 'review-ready', 'reviewers:web'],
      ['review.approved', 'approved', `agent:${w.agent}`],
      ['task.ready', 'unblocked', 'workers'],
    ]);
    n = (await asIn(board, w, 'next')).json;
    expect([n.action, n.task?.id]).toEqual(['claim', 'after']);
  });

  it('next --explain shows the terms, and claim-next takes exactly its first candidate', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'root', '--id', 'root', '--priority', 'P2', '--estimate', '3');
    await board.run('add', 'leaf', '--id', 'leaf', '--priority', 'P2');
    await board.run('add', 'urgent', '--id', 'urgent', '--priority', 'P1');
    await board.run('add', 'child', '--id', 'child', '--depends-on', 'root', '--estimate', '5');
    await board.run('add', 'docs', '--id', 'docs', '--specialty', 'docs', '--priority', 'P0');
    const w = await joinAsIn(board, 'w', 'worker', ['--specialty', 'web']);
    const n = (await asIn(board, w, 'next', '--explain')).json;
    expect(n.explain.candidates.map((c: { task: string }) => c.task)).toEqual(['urgent', 'root', 'leaf']);
    expect(n.explain.candidates[1].terms).toEqual({ priority: 100, critical_path: 50, downstream: 5, age: expect.any(Number) });
    expect(n.explain.skipped).toEqual([
      { task: 'child', reason: 'waits for root (todo)' },
      { task: 'docs', reason: 'needs specialty docs' },
    ]);
    const c = await asIn(board, w, 'claim-next', '--explain');
    expect(c.json.task.id).toBe(n.explain.candidates[0].task);
    expect(c.json.explain.candidates[0].task).toBe('urgent');
  });

  it('claim-next --watch wakes when work becomes ready, and ends with NO_WORK (exit 6) when none does', async () => {
    const board = makeBoard();
    board.run('add', 'blocker', '--id', 'blocker', '--no-review');
    board.run('add', 'later', '--id', 'later', '--depends-on', 'blocker');
    const a = joinAs(board, 'a');
    const b = joinAs(board, 'b');
    expect((await as(board, a, 'claim', 'blocker')).code).toBe(0);
    const started = Date.now();
    const none = await as(board, b, 'claim-next', '--watch', '1');
    expect([none.code, none.json.error.code]).toEqual([6, 'NO_WORK']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    // Woken by the change, not by the end of its wait: the bound is far below the wait and far
    // above what a loaded machine takes.
    const waiting = as(board, b, 'claim-next', '--watch', '240');
    const finish = await as(board, a, 'done', 'blocker');
    expect(finish.code).toBe(0);
    const woke = await waiting;
    expect(woke.code, woke.stdout).toBe(0);
    expect(woke.json.task.id).toBe('later');
    expect(Date.now() - started).toBeLessThan(100_000);
  });
});

describe('paths', () => {
  it('paths check names the holder; overlapping claims are refused (PATH_CONFLICT) under balanced', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'api', '--id', 'api', '--paths', 'src/api/**');
    await board.run('add', 'users', '--id', 'users', '--paths', 'src/api/users.ts');
    const a = await joinAsIn(board, 'a');
    const b = await joinAsIn(board, 'b');
    expect((await asIn(board, a, 'claim', 'api')).code).toBe(0);
    const check = await board.json('paths', 'check', 'src/api/users.ts', 'docs/readme.md');
    expect(check.paths).toEqual([
      { path: 'src/api/users.ts', held_by: [{ task: 'api', status: 'in_progress', agent: a.agent, owned: 'src/api/**' }] },
      { path: 'docs/readme.md', held_by: [] },
    ]);
    const clash = await asIn(board, b, 'claim', 'users');
    expect([clash.code, clash.json.error.code]).toEqual([3, 'PATH_CONFLICT']);
    expect((await asIn(board, b, 'claim-next')).code).toBe(6);
  });
});

describe('profiles and inferred paths', () => {
  it('the safe profile allows one task in flight per agent; throughput four, with path overlaps only warned', async () => {
    const safe = await makeBoardIn(['--profile', 'safe']);
    for (const id of ['a', 'b']) await safe.run('add', id, '--id', id);
    const s = await joinAsIn(safe, 's');
    expect((await asIn(safe, s, 'claim', 'a')).code).toBe(0);
    const second = await asIn(safe, s, 'claim', 'b');
    expect([second.code, second.json.error.code]).toEqual([3, 'LIMIT_REACHED']);
    expect(second.json.error.message).toMatch(/safe profile allows 1/);
    expect((await asIn(safe, s, 'next')).json).toMatchObject({ action: 'continue', task: { id: 'a' } });

    const fast = await makeBoardIn(['--profile', 'throughput']);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await fast.run('add', id, '--id', id, '--paths', 'src/**');
    const f = await joinAsIn(fast, 'f');
    const g = await joinAsIn(fast, 'g');
    for (const id of ['a', 'b', 'c', 'd']) expect((await asIn(fast, f, 'claim', id)).code).toBe(0);
    expect((await asIn(fast, f, 'claim', 'e')).json.error.code).toBe('LIMIT_REACHED');
    const overlap = await asIn(fast, g, 'claim', 'e');
    expect(overlap.code).toBe(0);
    expect(overlap.json.warnings[0]).toMatch(/overlap src\/\*\* of a/);
    // Throughput needs no review: done is done.
    expect((await asIn(fast, f, 'done', 'a')).json.task.status).toBe('done');
  });

  it('paths infer turns this branch\'s git changes into candidate paths that confirm into owned paths', async () => {
    const board = await makeBoardIn();
    const git = (...args: string[]) => execFileSync('git', args, { cwd: board.root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    git('init', '-q', '-b', 'main');
    git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'base');
    git('checkout', '-q', '-b', 'feature');
    mkdirSync(join(board.root, 'src', 'api'), { recursive: true });
    writeFileSync(join(board.root, 'src', 'api', 'users.ts'), 'x');
    git('add', 'src');
    git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-q', '-m', 'users');
    writeFileSync(join(board.root, 'src', 'api', 'orders.ts'), 'y');
    await board.run('add', 'api work', '--id', 'api');
    const inferred = await board.json('paths', 'infer', 'api');
    expect(inferred.inferred).toEqual(['src/api/orders.ts', 'src/api/users.ts']);
    expect(inferred.task.candidate_owned_paths).toEqual(['src/api/orders.ts', 'src/api/users.ts']);
    expect(inferred.task.owned_paths).toEqual([]);
    const confirmed = await board.json('edit', 'api', '--confirm-paths');
    expect(confirmed.task.owned_paths).toEqual(['src/api/orders.ts', 'src/api/users.ts']);
    expect(confirmed.task.candidate_owned_paths).toEqual([]);
  });
});
