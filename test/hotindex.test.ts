import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHotState } from '../src/store/hotindex.js';
import { BIN, baseEnv, batonIn, makeBoardIn, seededInstants, type TestBoardIn, boardState, writeBoardState } from './helpers.js';

/**
 * The read index (.baton.lock.index): `status`, `list --ready`, `next` and `inbox` answer from it exactly as
 * from state.json whole, whatever state the board is in, after a SIGKILL at any point of a write,
 * and after anything changed state.json behind baton's back (it is then not used).
 */

type Env = Record<string, string>;

/** Every hot read, for each agent, with the index and without it (BATON_NO_INDEX=1): the same JSON. */
async function expectSameAnswers(board: TestBoardIn, agents: Env[]): Promise<void> {
  const reads: [string[], Env][] = [
    [['status'], {}],
    [['list', '--ready'], {}],
    [['list', '--ready', '--limit', '3'], {}],
    ...agents.map((env): [string[], Env] => [['next'], env]),
    ...agents.map((env): [string[], Env] => [['inbox'], env]),
  ];
  for (const [args, env] of reads) {
    const hot = await batonIn([...args, '--json'], { cwd: board.root, env });
    const whole = await batonIn([...args, '--json'], { cwd: board.root, env: { ...env, BATON_NO_INDEX: '1' } });
    expect(hot.code, `${args.join(' ')}: ${hot.stdout}${hot.stderr}`).toBe(whole.code);
    // "lease ends in 896s" counts from the wall clock at each read: the two reads are a moment apart.
    const same = (j: unknown) => JSON.parse(JSON.stringify(j).replace(/ends in \d+s/g, 'ends in Ns'));
    expect(same(hot.json), args.join(' ')).toEqual(same(whole.json));
  }
}

async function join_(board: TestBoardIn, name: string, role: string, specialty?: string): Promise<Env> {
  const j = await board.json('join', '--name', name, '--role', role, ...(specialty ? ['--specialty', specialty] : []));
  return { BATON_SESSION: j.session.id, BATON_TOKEN: j.token };
}

/** A board in every state the hot reads look at: chains, specialties, paths, work in flight, review, a handoff, a gate, goals, blocked, finished. */
async function busyBoard(): Promise<{ board: TestBoardIn; agents: Env[] }> {
  const board = await makeBoardIn();
  // The age term follows the wall clock in next and list --ready: off, so two reads a moment apart rank alike.
  const cfg = join(board.dir, 'config.yaml');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/age_per_day: \d+/, 'age_per_day: 0'));
  const specialties = ['backend', 'frontend', ''];
  const tasks = Array.from({ length: 160 }, (_, i) => ({
    id: `t${i}`,
    title: `task ${i}`,
    priority: i % 4,
    ...(specialties[i % 3] ? { specialty: specialties[i % 3] } : {}),
    depends_on: i % 6 ? [`t${i - 1}`] : [],
    paths: [`mod${i % 5}/**`],
    estimate: 1 + (i % 3),
    ...(i < 18 ? { status: i % 9 === 4 ? 'cancelled' : 'done' } : {}),
  }));
  tasks.push({ id: 'goal', title: 'a goal', kind: 'goal' } as never, { id: 'gate', title: 'ci', kind: 'gate', gate: { type: 'ci', match: { pr: '1' } } } as never);
  writeFileSync(join(board.root, 'plan.json'), JSON.stringify(tasks));
  expect((await board.json('import', join(board.root, 'plan.json')))._code).toBe(0);
  const w1 = await join_(board, 'w1', 'worker', 'backend');
  const w2 = await join_(board, 'w2', 'worker');
  const r1 = await join_(board, 'r1', 'reviewer');
  const o = await join_(board, 'o', 'orchestrator');
  const as = (env: Env, ...args: string[]) => batonIn([...args, '--json'], { cwd: board.root, env });
  expect((await as(w1, 'claim-next')).code).toBe(0);
  const second = await as(w2, 'claim-next');
  expect(second.code).toBe(0);
  expect((await as(w2, 'done', second.json.task.id)).code).toBe(0); // to review (balanced)
  expect((await as(w2, 'claim-next')).code).toBe(0);
  const third = await as(w1, 'claim-next');
  if (third.code === 0) expect((await as(w1, 'handoff', third.json.task.id, '--to', 'agent:w2', '--notes', 'over to you')).code).toBe(0);
  await board.json('block', 't30', '--reason', 'waiting on a person');
  // A handoff whose task was cancelled after it (the record stays open): offered to nobody.
  const fourth = await as(w1, 'claim', 't24');
  if (fourth.code === 0) {
    expect((await as(w1, 'handoff', 't24', '--to', 'agent:w2', '--notes', 'then cancelled')).code).toBe(0);
    await board.json('cancel', 't24');
  }
  // An import that puts a claimed task back to waiting: its lease stays, and its holder's next still sees it.
  const w3 = await join_(board, 'w3', 'worker');
  expect((await as(w3, 'claim', 't36')).code).toBe(0);
  writeFileSync(join(board.root, 'back.json'), JSON.stringify([{ id: 't36', status: 'todo', depends_on: ['t150'] }]));
  expect((await board.json('import', join(board.root, 'back.json')))._code).toBe(0);
  expect((await as(w3, 'next')).json.action).toBe('continue');
  return { board, agents: [w1, w2, r1, o, w3] };
}

describe('the read index', () => {
  it('status, list --ready and next answer from it exactly as from state.json, for workers, a reviewer and an orchestrator', async () => {
    const { board, agents } = await busyBoard();
    expect(readHotState(board.dir)).not.toBeNull();
    await expectSameAnswers(board, agents);
    // The Markdown rendered from a writer's memory is what state.json gives: doctor finds it current.
    expect((await board.json('doctor')).checks.filter((c: { ok: boolean; name: string }) => !c.ok)).toEqual([]);
    // It holds the work in flight and the ready tasks, not the waiting ones.
    const index = JSON.parse(readFileSync(join(board.dir, '.baton.lock.index'), 'utf8'));
    const state = boardState(board.dir);
    expect(Object.keys(index.state.tasks).length).toBeLessThan(Object.keys(state.tasks).length / 2);
  });

  it('is not used once state.json changed behind it (a hand edit, a restore), and a missing index only costs speed', async () => {
    const { board, agents } = await busyBoard();
    const ready = (await board.json('list', '--ready')).tasks[0].id;
    const state = boardState(board.dir);
    state.tasks[ready].title = 'changed by hand';
    writeBoardState(board.dir, state);
    expect(readHotState(board.dir)).toBeNull();
    expect((await board.json('list', '--ready')).tasks[0].title).toBe('changed by hand');
    await expectSameAnswers(board, agents);
    // An index naming state.json's stamp but another revision (two commits in one second, where
    // mtime is kept to the second and an inode is reused) is not used either.
    await board.json('render');
    const indexFile = join(board.dir, '.baton.lock.index');
    expect(readHotState(board.dir)).not.toBeNull();
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    writeFileSync(indexFile, JSON.stringify({ ...index, revision: index.revision - 1, state: { ...index.state, revision: index.revision - 1 } }));
    expect(readHotState(board.dir)).toBeNull();
    rmSync(join(board.dir, '.baton.lock.index'));
    await expectSameAnswers(board, agents);
    // The next write writes it again.
    await board.json('add', 'one more');
    expect(readHotState(board.dir)).not.toBeNull();
    await expectSameAnswers(board, agents);
  });

  it('a state.json whose revision line is past its first megabyte (many long handoffs) is still rendered and indexed', async () => {
    const board = await makeBoardIn(['--profile', 'throughput']);
    const w = await join_(board, 'w', 'worker');
    const notes = 'n'.repeat(45_000);
    for (let i = 0; i < 25; i++) {
      await board.json('add', `h${i}`, '--id', `h${i}`);
      expect((await batonIn(['claim', `h${i}`, '--json'], { cwd: board.root, env: w })).code).toBe(0);
      expect((await batonIn(['handoff', `h${i}`, '--notes', notes, '--json'], { cwd: board.root, env: w })).code).toBe(0);
    }
    expect(readFileSync(join(board.dir, 'state.json'), 'utf8').indexOf('\n  "revision": ')).toBeGreaterThan(1 << 20);
    const added = await board.json('add', 'after them');
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain(`Revision ${added.revision} `);
    expect(readHotState(board.dir)).not.toBeNull();
    await expectSameAnswers(board, [w]);
    expect((await board.json('doctor')).healthy).toBe(true);
  });

  it('is never wrong after a SIGKILL at any point of a write: every read compared with state.json after each kill', async () => {
    const { board, agents } = await busyBoard();
    const [w1, w2] = agents as [Env, Env];
    let kills = 0;
    const instants = seededInstants();
    for (let i = 0; kills < 15 || i < 20; i++) {
      if (i > 200) throw new Error(`only ${kills} kills landed in 200 rounds (BATON_TEST_SEED=${instants.seed})`);
      const [args, env] = ([
        [['add', `added ${i}`, '--depends-on', 't20'], {}],
        [['claim-next'], w2],
        [['edit', `t${20 + (i % 30)}`, '--priority', `P${i % 4}`], {}],
        [['heartbeat'], w1],
        [['release', `t${20 + (i % 30)}`], w1],
      ] as [string[], Env][])[i % 5]!;
      const delay = instants.below(250);
      const r = await new Promise<{ killed: boolean }>((res) => {
        const child = spawn(process.execPath, [BIN, ...args, '--json'], { cwd: board.root, env: { ...baseEnv(), ...env }, stdio: 'ignore' });
        const timer = setTimeout(() => child.kill('SIGKILL'), delay);
        child.on('close', (_code, signal) => {
          clearTimeout(timer);
          res({ killed: signal === 'SIGKILL' });
        });
      });
      if (r.killed) kills++;
      await expectSameAnswers(board, agents);
    }
    expect(kills).toBeGreaterThanOrEqual(15);
  });
});
