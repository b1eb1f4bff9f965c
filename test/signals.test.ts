import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, baton, batonAsync, batonIn, hashTree, makeBoard, makeBoardIn, paneShows, type Run, type TestBoard, type TestBoardIn, boardState } from './helpers.js';

/**
 * Signals between agents: events, notifications, inbox, messages, handoffs and the live board.
 * Request and answer run in-process; waiting across processes (inbox --watch, events --follow,
 * watch) runs real ones.
 */

interface Joined {
  agent: string;
  session: string;
  env: Record<string, string>;
}

function joinAs(board: TestBoard, name: string, role = 'worker', extra: string[] = []): Joined {
  const r = board.json('join', '--name', name, '--role', role, ...extra);
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { agent: r.agent.id, session: r.session.id, env: { BATON_SESSION: r.session.id, BATON_TOKEN: r.token } };
}

const as = (board: TestBoard, who: Joined, ...args: string[]): Promise<Run> => batonAsync([...args, '--json'], { cwd: board.root, env: who.env });

async function joinAsIn(board: TestBoardIn, name: string, role = 'worker', extra: string[] = []): Promise<Joined> {
  const r = await board.json('join', '--name', name, '--role', role, ...extra);
  expect(r._code, JSON.stringify(r)).toBe(0);
  return { agent: r.agent.id, session: r.session.id, env: { BATON_SESSION: r.session.id, BATON_TOKEN: r.token } };
}

const asIn = (board: TestBoardIn, who: Joined, ...args: string[]): Promise<Run> => batonIn([...args, '--json'], { cwd: board.root, env: who.env });

function setConfig(board: { dir: string }, pattern: RegExp, replacement: string) {
  const path = join(board.dir, 'config.yaml');
  writeFileSync(path, readFileSync(path, 'utf8').replace(pattern, replacement));
}

describe('inbox', () => {
  it('inbox --watch returns a message another process sends, well before its timeout; times out empty with exit 0', async () => {
    const board = makeBoard();
    const a = joinAs(board, 'a');
    const b = joinAs(board, 'b');
    const started = Date.now();
    const empty = await as(board, b, 'inbox', '--watch', '1');
    expect(empty.code).toBe(0);
    expect(empty.json.notifications).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);

    // Woken by the send, not by the end of its wait (far below the wait, far above a loaded machine).
    const waiting = as(board, b, 'inbox', '--watch', '240');
    const t0 = Date.now();
    // The waiter is a separate process; sending right away also covers a send that lands while it starts.
    const sent = await as(board, a, 'send', '--to', `agent:${b.agent}`, 'the schema is merged');
    expect(sent.code).toBe(0);
    const got = await waiting;
    expect(got.code).toBe(0);
    expect(got.json.notifications.map((n: { text: string }) => n.text)).toEqual([`[from ${a.agent}] the schema is merged`]);
    expect(Date.now() - t0).toBeLessThan(100_000);
  });

  it('targets match exactly, reading changes nothing, ack hides only up to the acked seq', async () => {
    const board = await makeBoardIn();
    const lead = await joinAsIn(board, 'lead', 'orchestrator');
    const back = await joinAsIn(board, 'back', 'reviewer', ['--specialty', 'backend']);
    await joinAsIn(board, 'front', 'reviewer', ['--specialty', 'frontend']);
    const w = await joinAsIn(board, 'w', 'worker', ['--specialty', 'web']);
    for (const to of ['reviewers:backend', 'reviewers:frontend', 'reviewers', 'all', 'workers', 'orchestrator', `agent:${back.agent}`]) {
      expect((await asIn(board, lead, 'send', '--to', to, `for ${to}`)).code).toBe(0);
    }
    const before = hashTree(board.dir);
    const inbox = (await asIn(board, back, 'inbox')).json;
    expect(inbox.notifications.map((n: { targets: string[] }) => n.targets[0])).toEqual(['reviewers:backend', 'reviewers', 'all', `agent:${back.agent}`]);
    expect((await asIn(board, w, 'inbox')).json.notifications.map((n: { targets: string[] }) => n.targets[0])).toEqual(['all', 'workers']);
    expect((await asIn(board, lead, 'inbox')).json.notifications.map((n: { targets: string[] }) => n.targets[0])).toEqual(['all', 'orchestrator']);
    expect(hashTree(board.dir)).toEqual(before);

    const revision = (await board.json('status')).revision;
    const middle = inbox.notifications[1].seq;
    expect((await asIn(board, back, 'inbox', 'ack', '--to', String(middle))).code).toBe(0);
    expect((await board.json('status')).revision).toBe(revision);
    // Both acks are one: past the last event is INVALID_INPUT naming the range; not a seq at all
    // is refused by the one numeric parser, naming the flag.
    const last = (await board.json('events')).next_since;
    for (const r of [await asIn(board, back, 'inbox', 'ack', '--to', String(last + 1)), await batonIn(['events', 'ack', '--cursor', 'r', '--to', String(last + 1), '--json'], { cwd: board.root })]) {
      expect([r.code, r.json.error.code]).toEqual([2, 'INVALID_INPUT']);
      expect(r.json.error.message).toBe(`Invalid --to '${last + 1}': a seq between 0 and ${last} (the last event).`);
    }
    const notSeq = await batonIn(['events', 'ack', '--cursor', 'r', '--to', 'x', '--json'], { cwd: board.root });
    expect([notSeq.code, notSeq.json.error.code]).toEqual([2, 'INVALID_INPUT']);
    expect(notSeq.json.error.message).toMatch(/^Invalid --to 'x': give an event seq/);
    const after = (await asIn(board, back, 'inbox')).json;
    expect(after.notifications.map((n: { seq: number }) => n.seq)).toEqual(inbox.notifications.slice(2).map((n: { seq: number }) => n.seq));
    expect((await asIn(board, back, 'inbox', '--all')).json.notifications).toHaveLength(4);
    expect((await asIn(board, back, 'inbox', '--kind', 'review-ready')).json.notifications).toEqual([]);
    // Unknown kinds of target, and targets nobody would read, are refused; nothing is written.
    const typo = await asIn(board, lead, 'send', '--to', 'agent:bakc', 'lost?');
    expect([typo.code, typo.json.error.code]).toEqual([4, 'NOT_FOUND']);
    // No worker lists quantum and none is a generalist: nobody would read it.
    const nobody = await asIn(board, lead, 'send', '--to', 'workers:quantum', 'anyone?');
    expect(nobody.code).toBe(4);
    expect((await asIn(board, lead, 'send', '--to', 'everyone', 'hm')).code).toBe(2);
    expect((await board.json('status')).revision).toBe(revision);
  });

  it('inbox --limit shows the oldest first and --ack never hides one it did not show (a cut list, folded repeats), nor goes with --kind or --all', async () => {
    const board = await makeBoardIn();
    const a = await joinAsIn(board, 'a');
    const b = await joinAsIn(board, 'b');
    const send = async (text: string) => expect((await asIn(board, a, 'send', '--to', `agent:${b.agent}`, text)).code).toBe(0);
    await send('build is red');
    await send('please look at t7 first');
    await send('build is red'); // folds into the first
    const cut = (await asIn(board, b, 'inbox', '--limit', '1', '--ack')).json;
    expect(cut).toMatchObject({ truncated: true, notifications: [{ text: `[from ${a.agent}] build is red`, count: 2 }] });
    // It showed the fold of the 1st and 3rd, not the 2nd: the ack stops before the 2nd.
    const rest = (await asIn(board, b, 'inbox')).json;
    expect(rest.notifications.map((n: { text: string }) => n.text)).toEqual([`[from ${a.agent}] please look at t7 first`, `[from ${a.agent}] build is red`]);
    expect(rest.truncated).toBe(false);
    for (const flag of [['--kind', 'message'], ['--all']]) {
      const r = await asIn(board, b, 'inbox', ...flag, '--ack');
      expect([r.code, r.json.error.code], flag.join(' ')).toEqual([2, 'INVALID_INPUT']);
      expect((await asIn(board, b, 'inbox', ...flag)).json.ack_command, flag.join(' ')).toBeNull();
    }
    expect((await asIn(board, b, 'inbox', '--ack')).json.notifications).toHaveLength(2);
    expect((await asIn(board, b, 'inbox')).json.notifications).toEqual([]);
  });

  it('a sender past the rate limit is refused (exit 3); identical messages within a minute fold into one', async () => {
    const board = await makeBoardIn();
    setConfig(board, /rate_limit_per_minute: \d+/, 'rate_limit_per_minute: 3');
    const a = await joinAsIn(board, 'a');
    const b = await joinAsIn(board, 'b');
    for (let i = 0; i < 3; i++) expect((await asIn(board, a, 'send', '--to', `agent:${b.agent}`, 'build is red')).code).toBe(0);
    const limited = await asIn(board, a, 'send', '--to', `agent:${b.agent}`, 'build is red');
    expect([limited.code, limited.json.error.code]).toEqual([3, 'RATE_LIMITED']);
    expect(limited.json.error.retry_after_seconds).toBeGreaterThan(0);
    // Another sender is not limited by a's messages.
    expect((await asIn(board, b, 'send', '--to', `agent:${a.agent}`, 'ok')).code).toBe(0);
    const inbox = (await asIn(board, b, 'inbox')).json;
    expect(inbox.notifications).toHaveLength(1);
    expect(inbox.notifications[0]).toMatchObject({ count: 3, kind: 'message', text: `[from ${a.agent}] build is red` });
    expect(inbox.ack_command).toBe(`baton inbox ack --to ${inbox.notifications[0].seq}`);
  });
});

describe('events', () => {
  it('events --watch returns the first matching event another process commits, and times out empty with exit 0', async () => {
    const board = makeBoard();
    expect(board.run('add', 'first', '--id', 'first').code).toBe(0);
    const since = board.json('events').next_since;
    const started = Date.now();
    const empty = await batonAsync(['events', '--since', String(since), '--watch', '1', '--json'], { cwd: board.root });
    expect([empty.code, empty.json.events, empty.json.next_since]).toEqual([0, [], since]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);

    // A commit of another type does not end the wait; the one asked for does.
    const waiting = batonAsync(['events', '--since', String(since), '--type', 'task.claimed', '--watch', '240', '--json'], { cwd: board.root });
    const t0 = Date.now();
    expect(board.run('add', 'second', '--id', 'second').code).toBe(0);
    const me = board.json('join', '--name', 'w', '--role', 'worker');
    expect(baton(['claim', 'first', '--json'], { cwd: board.root, env: { BATON_SESSION: me.session.id, BATON_TOKEN: me.token } }).code).toBe(0);
    const got = await waiting;
    expect(got.code).toBe(0);
    expect(got.json.events.map((e: { type: string; task: string }) => [e.type, e.task])).toEqual([['task.claimed', 'first']]);
    expect(Date.now() - t0).toBeLessThan(100_000);
  });

  it('seq stays continuous across several prunes; nothing is deleted; cursors keep working', async () => {
    const board = await makeBoardIn();
    for (let i = 0; i < 12; i++) expect((await board.run('add', `t${i}`, '--id', `t${i}`)).code).toBe(0);
    expect((await board.json('events', 'ack', '--cursor', 'reader', '--to', '5')).seq).toBe(5);
    expect((await board.json('events', 'prune', '--max-rows', '8')).moved).toBe(4);
    for (let i = 12; i < 20; i++) await board.run('add', `t${i}`, '--id', `t${i}`);
    expect((await board.json('events', 'prune', '--max-rows', '3')).moved).toBe(13);
    expect((await board.json('events', 'prune', '--max-rows', '3')).moved).toBe(0);
    const archives = (await board.json('events', 'archives')).archives;
    expect(archives.map((a: { first: number; last: number }) => [a.first, a.last])).toEqual([[1, 4], [5, 17]]);
    const all = (await board.json('events', '--since', '0')).events;
    expect(all.map((e: { seq: number }) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const fromCursor = await board.json('events', '--cursor', 'reader', '--limit', '3');
    expect(fromCursor.events.map((e: { seq: number }) => e.seq)).toEqual([6, 7, 8]);
    expect(fromCursor.more).toBe(true);
    expect((await board.json('events', '--task', 't3')).events.map((e: { seq: number }) => e.seq)).toEqual([4]);
    expect((await board.json('show', 't19')).history).toHaveLength(1);
    // The board still works and is clean after pruning, and new events carry on the sequence.
    expect((await board.run('add', 'after', '--id', 'after')).code).toBe(0);
    expect((await board.json('events', '--since', '20')).events.map((e: { seq: number }) => e.seq)).toEqual([21]);
    expect((await board.json('doctor')).healthy).toBe(true);
    const lines = readdirSync(join(board.dir, 'archive', 'events')).flatMap((f) => readFileSync(join(board.dir, 'archive', 'events', f), 'utf8').trim().split('\n'));
    expect(lines).toHaveLength(17);
  });

  it('config retention prunes automatically; events --follow streams new events as JSON lines', async () => {
    const board = await makeBoardIn();
    setConfig(board, /max_rows: 0/, 'max_rows: 10');
    for (let i = 0; i < 26; i++) await board.run('add', `t${i}`, '--id', `t${i}`);
    expect((await board.json('events', 'archives')).archives).toHaveLength(1);
    expect((await board.json('events', '--since', '0')).events).toHaveLength(26);
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain('max_rows 10');

    // The follower, and the writers it sees, are processes of their own.
    const follower = spawn(process.execPath, [BIN, 'events', '--follow', '--since', '26', '--json'], { cwd: board.root, env: { ...process.env, BATON_DIR: board.dir } });
    let buffer = '';
    const lines = new Promise<string[]>((resolve) => {
      follower.stdout.on('data', (d) => {
        buffer += d;
        const got = buffer.split('\n').filter(Boolean);
        if (got.length >= 2) resolve(got);
      });
    });
    baton(['add', 'streamed one', '--id', 's1'], { cwd: board.root });
    baton(['add', 'streamed two', '--id', 's2'], { cwd: board.root });
    const got = await lines;
    follower.kill('SIGINT');
    expect(got.map((l) => JSON.parse(l).task)).toEqual(['s1', 's2']);
  });
});

describe('handoffs', () => {
  it('round trip between two agents: bundle written, take moves the lease, ack, HANDOFFS.md and the index agree', async () => {
    const board = await makeBoardIn();
    await board.run('add', 'payments API', '--id', 'pay', '--specialty', 'backend', '--paths', 'src/pay/**', '--description', 'endpoints for refunds');
    const a = await joinAsIn(board, 'ada', 'worker', ['--specialty', 'backend']);
    const b = await joinAsIn(board, 'bob', 'worker', ['--specialty', 'backend']);
    const c = await joinAsIn(board, 'cyd', 'worker', ['--specialty', 'frontend']);
    const claimed = await asIn(board, a, 'claim', 'pay');
    const h = await asIn(board, a, 'handoff', 'pay', '--notes', 'refund endpoint done; partial refunds left');
    expect(h.code, h.stdout).toBe(0);
    expect(h.json.handoff).toMatchObject({ to: 'workers:backend', from: a.agent, state: 'open' });
    const bundle = readFileSync(join(board.dir, 'handoffs', 'pay.handoff.md'), 'utf8');
    for (const section of ['## Why', '## What was done', '## What is left', '## Owned paths', '## Branch', '## Recent events of the task', '## Take it over']) expect(bundle).toContain(section);
    expect(bundle).toContain('partial refunds left');
    expect(bundle).toContain('`src/pay/**`');
    expect(bundle).toContain('baton handoff take pay');
    expect(bundle).toMatch(/task\.claimed by `ada`/);

    // The old holder's lease is gone; the target sees it, others don't.
    expect((await asIn(board, a, 'done', 'pay', '--lease-token', claimed.json.lease_token)).json.error.code).toBe('LEASE_CONFLICT');
    expect((await asIn(board, b, 'next')).json).toMatchObject({ action: 'take-handoff', command: 'baton handoff take pay --json' });
    expect((await asIn(board, b, 'inbox', '--kind', 'handoff-ready')).json.notifications).toHaveLength(1);
    expect((await asIn(board, c, 'handoffs', '--mine')).json.handoffs).toEqual([]);
    expect((await asIn(board, c, 'handoff', 'take', 'pay')).json.error.code).toBe('NOT_YOURS');
    expect((await asIn(board, c, 'handoff', 'ack', 'pay')).code).toBe(0);

    const taken = await asIn(board, b, 'handoff', 'next');
    expect(taken.code, taken.stdout).toBe(0);
    expect(taken.json.task).toMatchObject({ id: 'pay', status: 'in_progress', assignee: b.agent });
    expect(taken.json.task.lease.session).toBe(b.session);
    expect((await asIn(board, b, 'heartbeat', '--task', 'pay', '--lease-token', taken.json.lease_token)).code).toBe(0);

    const state = boardState(board.dir);
    const index = JSON.parse(readFileSync(join(board.dir, 'handoff-index.json'), 'utf8'));
    expect(index.handoffs).toEqual(Object.values(state.handoffs));
    expect(state.handoffs.pay).toMatchObject({ state: 'taken', taken_by: b.agent, acked_by: [c.agent] });
    const md = readFileSync(join(board.dir, 'HANDOFFS.md'), 'utf8');
    expect(md).toContain('_No handoffs waiting._');
    expect(md).toContain(`| \`pay\` | \`ada\` | \`bob\` |`);
    expect((await board.json('doctor')).healthy).toBe(true);
  });
});

describe('watch', () => {
  // tmux drives watch under a real pseudo-terminal; CI installs it (.ci/run), and a machine
  // without it fails this test instead of skipping it.
  const requireTmux = () => {
    try {
      execFileSync('tmux', ['-V']);
    } catch {
      throw new Error('tmux is needed for the terminal test of watch (apt-get install tmux; .ci/run installs it)');
    }
  };

  it('redraws under a pseudo-terminal after another process claims, and exits cleanly on q', async () => {
    requireTmux();
    const board = makeBoard();
    board.run('add', 'visible work', '--id', 'vis');
    const w = joinAs(board, 'watcher-test');
    const session = `baton-watch-${process.pid}-${Date.now()}`;
    const done = join(board.root, 'watch-exited');
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '40', `cd ${JSON.stringify(board.root)} && NO_COLOR=1 ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} watch; echo $? > ${JSON.stringify(done)}; sleep 30`]);
    try {
      await paneShows(session, 'Ready next (1)');
      expect((await as(board, w, 'claim', 'vis')).code).toBe(0);
      const pane = await paneShows(session, 'watcher-test');
      expect(pane).toMatch(/vis\s+watcher-test\s+lease \d+m/);
      execFileSync('tmux', ['send-keys', '-t', session, 'q']);
      const deadline = Date.now() + 10_000;
      while (!existsSync(done) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(done, 'utf8').trim()).toBe('0');
    } finally {
      execFileSync('tmux', ['kill-session', '-t', session]);
    }
  });

  it('prints plain scrolling snapshots when not a TTY, one a change', async () => {
    const board = makeBoard();
    board.run('add', 'a', '--id', 'a');
    const r = await batonAsync(['watch', '--timeout', '1'], { cwd: board.root });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Ready next (1):');
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });
});
