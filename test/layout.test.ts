import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../src/rules/layout.js';
import { readStateText, refreshBoardFiles } from '../src/store/store.js';
import { b, commit, expectNothingLost, git, tryGit, twoMachines } from './git-helpers.js';
import { BIN, baseEnv, baton, batonIn, boardState, hashTree, makeBoard, makeBoardIn, readJsonl, seededInstants, tempDir, type TestBoard } from './helpers.js';

// The board's file layout (src/rules/layout.ts): state.json small, the tasks in tasks/XX.json.

/** Sorted keys at every depth, as baton writes JSON. */
const sorted = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;

/** Turns a board back into layout 1, as a baton before layout 2 wrote it: every task inside state.json. */
function toLayout1(dir: string): void {
  const state = boardState(dir);
  state.schema = 1;
  writeFileSync(join(dir, 'state.json'), `${JSON.stringify(sorted(state), null, 2)}\n`);
  rmSync(join(dir, 'tasks'), { recursive: true, force: true });
  rmSync(join(dir, '.baton.lock.index'), { force: true });
}

/** A plan of n tasks in chains of ten, some with labels and paths. */
function plan(n: number, prefix = 'p'): string {
  const tasks = Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    title: `planned ${i} ü "quoted"`,
    priority: i % 4,
    depends_on: i % 10 ? [`${prefix}-${i - 1}`] : [],
    ...(i % 3 ? {} : { labels: ['l'], paths: [`src/m${i}/**`] }),
  }));
  return JSON.stringify({ tasks });
}

/** What the board answers, without what a write changes anyway. */
async function answers(cwd: string) {
  const list = await batonIn(['list', '--json'], { cwd });
  const ready = await batonIn(['list', '--ready', '--json'], { cwd });
  return { list: list.json.tasks, ready: ready.json.tasks.map((t: { id: string }) => t.id) };
}

/** Two ids that hash to the same shard, starting with `prefix`. */
function sameShard(prefix: string): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; ; i++) {
    const id = `${prefix}${i}`;
    const other = seen.get(shardOf(id));
    if (other) return [other, id];
    seen.set(shardOf(id), id);
  }
}

describe('layout 2: state.json small, the tasks in shards', () => {
  it('a write rewrites only the shards of the tasks it changed, and git shows a few lines', async () => {
    const board = await makeBoardIn();
    writeFileSync(join(board.root, 'plan.json'), plan(300));
    await board.json('import', 'plan.json');
    const state = JSON.parse(readFileSync(join(board.dir, 'state.json'), 'utf8'));
    expect(state.schema).toBe(2);
    expect(state.tasks).toBeUndefined();
    const shards = readdirSync(join(board.dir, 'tasks'));
    expect(shards).toHaveLength(64);
    expect(shards.every((n) => /^[0-3][0-9a-f]\.json$/.test(n))).toBe(true);
    // Each task is in the shard its id hashes to.
    for (const n of shards) for (const id of Object.keys(JSON.parse(readFileSync(join(board.dir, 'tasks', n), 'utf8')))) expect(shardOf(id)).toBe(n.slice(0, 2));
    const before = hashTree(join(board.dir, 'tasks'));
    await board.json('edit', 'p-7', '--title', 'renamed');
    const after = hashTree(join(board.dir, 'tasks'));
    const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
    expect(changed).toEqual([`${shardOf('p-7')}.json`]);
  });

  it('a board in layout 1 is upgraded by its first write, in that one transaction: the same tasks and answers, doctor clean', async () => {
    const board = await makeBoardIn();
    writeFileSync(join(board.root, 'plan.json'), plan(200));
    await board.json('import', 'plan.json');
    await board.json('block', 'p-3', '--reason', 'waiting on a person');
    toLayout1(board.dir);
    const was = await answers(board.root);
    const tasksBefore = boardState(board.dir).tasks;
    const revision = boardState(board.dir).revision;
    const added = await board.json('add', 'after the upgrade', '--id', 'after');
    expect(added.revision).toBe(revision + 1);
    expect(JSON.parse(readFileSync(join(board.dir, 'state.json'), 'utf8')).schema).toBe(2);
    const tasksAfter = boardState(board.dir).tasks;
    const { after, ...rest } = tasksAfter;
    expect(after.title).toBe('after the upgrade');
    expect(rest).toEqual(tasksBefore);
    const now = await answers(board.root);
    expect(now.list.filter((t: { id: string }) => t.id !== 'after')).toEqual(was.list);
    expect(now.ready.filter((id: string) => id !== 'after')).toEqual(was.ready);
    const doctor = await board.json('doctor');
    expect(doctor.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
  });

  it('doctor --repair upgrades a board in layout 1 too, and a read never does', async () => {
    const board = await makeBoardIn();
    writeFileSync(join(board.root, 'plan.json'), plan(40));
    await board.json('import', 'plan.json');
    toLayout1(board.dir);
    const tasks = boardState(board.dir).tasks;
    const before = hashTree(board.dir);
    await board.json('status');
    await board.json('list');
    expect(hashTree(board.dir)).toEqual(before);
    expect((await board.json('doctor', '--repair'))._code).toBe(0);
    expect(JSON.parse(readFileSync(join(board.dir, 'state.json'), 'utf8')).schema).toBe(2);
    expect(boardState(board.dir).tasks).toEqual(tasks);
    expect((await board.json('doctor')).healthy).toBe(true);
  });

  it('an upgrade killed at any instant leaves one layout or the other, never a mix: every task reads, and the next write finishes it', async () => {
    const template = makeBoard();
    writeFileSync(join(template.root, 'plan.json'), plan(3000));
    expect(template.json('import', 'plan.json')._code).toBe(0);
    toLayout1(template.dir);
    const ids = Object.keys(boardState(template.dir).tasks).sort();
    // How long an upgrade takes here, start to exit, so the kills fall all along it.
    const timed = tempDir();
    cpSync(template.root, timed, { recursive: true });
    const t0 = Date.now();
    expect(baton(['add', 'timed'], { cwd: timed }).code).toBe(0);
    const span = Date.now() - t0;
    const { seed, below } = seededInstants();
    const layouts = new Set<number>();
    for (let k = 0; k < 8; k++) {
      const root = tempDir();
      cpSync(template.root, root, { recursive: true });
      const dir = join(root, 'project-plan');
      const child = spawn(process.execPath, [BIN, 'add', `killed ${k}`, '--id', `killed-${k}`], { cwd: root, env: baseEnv(), stdio: 'ignore' });
      const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
      const delay = below(span);
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      const code = await exited;
      const at = `seed ${seed}, kill ${k} after ${delay} ms of ${span}`;
      layouts.add(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).schema);
      // A read sees every task, whatever the instant (the add too, once it exited 0).
      const list = baton(['list', '--json'], { cwd: root });
      expect(list.code, `${at}: ${list.stdout}${list.stderr}`).toBe(0);
      const listed = list.json.tasks.map((t: { id: string }) => t.id);
      expect(ids.filter((id) => !listed.includes(id)).length, `${at}: ${listed.length} listed; ${JSON.stringify(readdirSync(dir))}`).toBe(0);
      if (code === 0) expect(listed, at).toContain(`killed-${k}`);
      // The next write repairs what was cut short and upgrades; nothing is lost.
      expect(baton(['add', 'next', '--id', 'next'], { cwd: root }).code, at).toBe(0);
      expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).schema, at).toBe(2);
      const tasks = Object.keys(boardState(dir).tasks);
      expect(ids.filter((id) => !tasks.includes(id)), at).toEqual([]);
      const doctor = baton(['doctor', '--json'], { cwd: root });
      expect(doctor.json.checks.filter((c: { ok: boolean }) => !c.ok), at).toEqual([]);
      rmSync(root, { recursive: true, force: true });
    }
    rmSync(timed, { recursive: true, force: true });
    rmSync(template.root, { recursive: true, force: true });
  });

  it('a writer that read the board while it waited for the lock reads again exactly what changed since: a commit, a hand edit of a shard, a shard removed', async () => {
    const board = makeBoard();
    const [x, y] = sameShard('w');
    const z = ['z0', 'z1', 'z2', 'z3'].find((id) => shardOf(id) !== shardOf(x))!;
    for (const id of [x, y, z]) expect(board.json('add', id, '--id', id)._code).toBe(0);
    const pre = await readStateText(board.dir);
    // Another writer commits (state.json and z's shard), and a person edits y in x's shard by hand.
    expect(board.json('edit', z, '--title', 'z, edited by a commit')._code).toBe(0);
    const shard = join(board.dir, 'tasks', `${shardOf(y)}.json`);
    const tasks = JSON.parse(readFileSync(shard, 'utf8'));
    tasks[y].title = 'y, edited by hand';
    writeFileSync(shard, `${JSON.stringify(tasks, null, 2)}\n`);
    const now = (await refreshBoardFiles(board.dir, pre))!;
    const whole = await readStateText(board.dir);
    expect(now.state).toEqual(whole.state);
    expect(Object.keys(now.state.tasks)).toEqual(Object.keys(whole.state.tasks));
    expect([now.state.tasks[y]!.title, now.state.tasks[z]!.title]).toEqual(['y, edited by hand', 'z, edited by a commit']);
    expect([...now.shards]).toEqual([...whole.shards]);
    expect([...now.members]).toEqual([...whole.members]);
    // Nothing changed since: the very same read, nothing read again.
    expect(await refreshBoardFiles(board.dir, now)).toBe(now);
    // A shard file removed by hand: its tasks are gone from the refreshed board as from a whole read.
    rmSync(join(board.dir, 'tasks', `${shardOf(z)}.json`));
    const gone = (await refreshBoardFiles(board.dir, now))!;
    expect(gone.state).toEqual((await readStateText(board.dir)).state);
    expect(gone.state.tasks[z]).toBeUndefined();
    // A task added by a commit (a new key): the tasks stay in id order, as a whole read gives them.
    expect(board.json('add', 'a, added by a commit', '--id', 'a0')._code).toBe(0);
    const added = (await refreshBoardFiles(board.dir, gone))!;
    const after = await readStateText(board.dir);
    expect(added.state).toEqual(after.state);
    expect(Object.keys(added.state.tasks)).toEqual(Object.keys(after.state.tasks));
    expect([...added.members]).toEqual([...after.members]);
  });

  it('a tasks folder or a shard that is there but can\'t be read is BOARD_CORRUPT for every command, never a board without those tasks, and nothing is written', async () => {
    const board = makeBoard();
    for (const id of ['a', 'b', 'c']) expect(board.json('add', id, '--id', id)._code).toBe(0);
    const pre = await readStateText(board.dir);
    const tasks = join(board.dir, 'tasks');
    const shard = join(tasks, `${shardOf('a')}.json`);
    // A shard replaced by a link to itself: opening it fails (ELOOP), as a broken storage would.
    const kept = readFileSync(shard, 'utf8');
    rmSync(shard);
    symlinkSync(`${shardOf('a')}.json`, shard);
    expect(await refreshBoardFiles(board.dir, pre)).toBeNull();
    // The tasks folder replaced by a file (ENOTDIR), then the shard again.
    for (const broken of ['folder', 'shard']) {
      if (broken === 'folder') {
        rmSync(shard);
        writeFileSync(shard, kept);
        renameSync(tasks, `${tasks}.aside`);
        writeFileSync(tasks, 'not a folder');
      } else {
        // A folder in the shard's place (EISDIR when read).
        rmSync(tasks);
        renameSync(`${tasks}.aside`, tasks);
        rmSync(shard);
        mkdirSync(shard);
      }
      const before = hashTree(board.root);
      for (const args of [['list'], ['add', 'd', '--id', 'd'], ['edit', 'b', '--title', 'b2'], ['doctor', '--repair']]) {
        const r = board.json(...args);
        expect([r._code, r.error?.code], `${broken}: ${args.join(' ')}`).toEqual([7, 'BOARD_CORRUPT']);
      }
      expect(hashTree(board.root)).toEqual(before);
    }
  });

  it('a board in a layout newer than this baton reads is refused by every command, with nothing written', async () => {
    const board: TestBoard = makeBoard();
    expect(board.json('add', 'one', '--id', 'one')._code).toBe(0);
    const file = join(board.dir, 'state.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"schema": 2', '"schema": 3'));
    const before = hashTree(board.root);
    for (const args of [['status'], ['list'], ['add', 'two'], ['claim-next'], ['doctor', '--repair'], ['render']]) {
      const r = board.json(...args);
      expect(r._code, args.join(' ')).toBe(7);
      expect(r.error.code, args.join(' ')).toBe('BOARD_TOO_NEW');
      expect(r.error.hint).toContain('upgrade baton');
    }
    const human = board.run('status');
    expect(human.stderr).toContain('layout 3');
    expect(hashTree(board.root)).toEqual(before);
  });

  it('what reads state.json alone (an ack) takes it as a whole read does: a stray tasks key ignored, a newer layout refused', async () => {
    const board: TestBoard = makeBoard();
    expect(board.json('add', 'one', '--id', 'one')._code).toBe(0);
    const w = board.json('join', '--name', 'w', '--role', 'worker');
    const me = ['--session', w.session.id, '--token', w.token];
    expect(board.json('send', '--to', 'agent:w', 'hello', ...me)._code).toBe(0);
    // A layout-2 state.json that also has a tasks key (a hand edit): the shards hold the tasks, the key is ignored.
    const file = join(board.dir, 'state.json');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('{\n', '{\n  "tasks": {},\n'));
    expect(board.json('list').tasks.map((t: { id: string }) => t.id)).toEqual(['one']);
    const acked = board.json('inbox', 'ack', ...me);
    expect([acked._code, acked.acked]).toEqual([0, expect.any(Number)]);
    expect(board.json('events', 'ack', '--cursor', 'ci')._code).toBe(0);
    writeFileSync(file, text.replace('"schema": 2', '"schema": 3'));
    for (const args of [['inbox', 'ack', ...me], ['events', 'ack', '--cursor', 'ci']]) {
      const r = board.json(...args);
      expect([r._code, r.error?.code], args[0]).toEqual([7, 'BOARD_TOO_NEW']);
    }
  });
});

/** Two clones whose board is in layout 1, as a baton before layout 2 committed it. */
async function layout1OnBothClones(): Promise<{ a: string; c: string }> {
  const { a, c } = await twoMachines();
  toLayout1(join(a, 'project-plan'));
  commit(a, 'the board as an older baton wrote it');
  git(a, 'push', '-q', 'origin', 'HEAD:main');
  git(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
  return { a, c };
}

/** A task retitled in a layout-1 board as an older baton would (its rev and the revision moved on), committed. */
function editInLayout1(clone: string, id: string, title: string): void {
  const file = join(clone, 'project-plan', 'state.json');
  const old = JSON.parse(readFileSync(file, 'utf8'));
  old.tasks[id].title = title;
  old.tasks[id].rev = old.revision + 1;
  old.revision += 1;
  writeFileSync(file, `${JSON.stringify(sorted(old), null, 2)}\n`);
  commit(clone, 'c, in layout 1');
}

/** Finishes a merge doctor --repair resolved: git commits it, the board takes one more write, and nothing any clone committed is lost. */
async function finishMerge(clone: string, others: string[]): Promise<void> {
  git(clone, 'add', '-A');
  git(clone, 'commit', '-q', '--no-edit');
  await b(clone, 'add', 'after the merge');
  await expectNothingLost(clone, others);
}

describe('merging boards in layout 2', () => {
  it('two clones change different tasks of one shard, and different fields of one task: the driver merges the shard task by task', async () => {
    const { a, c } = await twoMachines();
    const [x, y] = sameShard('s');
    await b(a, 'add', 'x', '--id', x);
    await b(a, 'add', 'y', '--id', y);
    await b(a, 'sync');
    await b(c, 'sync');
    await b(a, 'edit', x, '--title', 'x from a');
    await b(a, 'edit', y, '--priority', '0');
    await b(c, 'edit', y, '--title', 'y from c');
    commit(a, 'a');
    commit(c, 'c');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code, pull.out).toBe(0);
    const tasks = boardState(join(c, 'project-plan')).tasks;
    expect([tasks[x].title, tasks[y].title, tasks[y].priority]).toEqual(['x from a', 'y from c', 0]);
    await b(c, 'add', 'after the merge');
    await expectNothingLost(c, [a]);
  });

  it('both clones move one task of a shard: the merge stops with the note, the shard holds both sides\' other tasks', async () => {
    const { a, c } = await twoMachines();
    const [x, y] = sameShard('t');
    await b(a, 'add', 'x', '--id', x);
    await b(a, 'add', 'y', '--id', y);
    await b(a, 'sync');
    await b(c, 'sync');
    await b(a, 'block', x, '--reason', 'a says');
    await b(c, 'cancel', x);
    await b(c, 'edit', y, '--title', 'y from c');
    commit(a, 'a');
    commit(c, 'c');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code).not.toBe(0);
    expect(pull.out).toContain(`tasks/${shardOf(x)}.json`);
    expect(existsSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'))).toBe(true);
    expect(readFileSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'), 'utf8')).toContain(x);
    const tasks = boardState(join(c, 'project-plan')).tasks;
    expect(tasks[y].title).toBe('y from c');
    expect((await batonIn(['doctor', '--repair', '--json'], { cwd: c })).code).toBe(0);
    rmSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'));
    await finishMerge(c, [a]);
  });

  it('both clones move a task in each of two shards: the one note lists both conflicts', async () => {
    const { a, c } = await twoMachines();
    const x = 'x0';
    let z = 'z0';
    for (let i = 1; shardOf(z) === shardOf(x); i++) z = `z${i}`;
    for (const id of [x, z]) await b(a, 'add', id, '--id', id);
    await b(a, 'sync');
    await b(c, 'sync');
    for (const id of [x, z]) {
      await b(a, 'block', id, '--reason', 'a says');
      await b(c, 'cancel', id);
    }
    commit(a, 'a');
    commit(c, 'c');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code).not.toBe(0);
    expect(pull.out).toContain(`tasks/${shardOf(x)}.json`);
    expect(pull.out).toContain(`tasks/${shardOf(z)}.json`);
    const note = readFileSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'), 'utf8');
    expect(note).toContain(`| \`${x}\` | status |`);
    expect(note).toContain(`| \`${z}\` | status |`);
    // Each conflict once, though the driver wrote the note twice.
    expect(note.split('\n').filter((l) => l.startsWith('| `')).length).toBe(note.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split(' | ').slice(0, 2).join()).filter((k, i, all) => all.indexOf(k) === i).length);
  });

  it('two clones that each upgraded a board in layout 1 by their own write merge task by task from the old base: both edits of one task kept, and sync goes through', async () => {
    const { a, c } = await layout1OnBothClones();
    // Each clone's first write upgrades it; both change the same task, different fields.
    await b(a, 'edit', 'first', '--title', 'first, titled on a');
    await b(c, 'edit', 'first', '--priority', '0');
    await b(a, 'sync');
    await b(c, 'sync');
    await b(a, 'sync');
    for (const clone of [a, c]) {
      const first = boardState(join(clone, 'project-plan')).tasks.first;
      expect([first.title, first.priority]).toEqual(['first, titled on a', 0]);
    }
    await expectNothingLost(c, [a]);
  });

  it('a write while a merge of a clone in layout 1 with an upgraded one is stopped is refused, and doctor --repair then merges both', async () => {
    const { a, c } = await layout1OnBothClones();
    await b(a, 'edit', 'second', '--title', 'second, renamed on a');
    commit(a, 'a upgrades');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    editInLayout1(c, 'first', 'first, renamed on c');
    expect(tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main').code).not.toBe(0);
    const refused = await batonIn(['add', 'during the merge', '--json'], { cwd: c });
    expect([refused.code, refused.json.error.code]).toEqual([3, 'MERGE_FAILED']);
    expect(refused.json.error.hint).toContain('doctor --repair');
    expect((await batonIn(['doctor', '--repair', '--json'], { cwd: c })).code).toBe(0);
    const tasks = boardState(join(c, 'project-plan')).tasks;
    expect([tasks.first.title, tasks.second.title]).toEqual(['first, renamed on c', 'second, renamed on a']);
    await finishMerge(c, [a]);
  });

  it('an upgraded clone merging one still in layout 1 can write while the merge is stopped, and doctor --repair keeps those writes', async () => {
    const { a, c } = await layout1OnBothClones();
    editInLayout1(c, 'first', 'first, renamed on c');
    git(c, 'push', '-q', 'origin', 'HEAD:main');
    await b(a, 'edit', 'second', '--title', 'second, renamed on a');
    commit(a, 'a upgrades');
    expect(tryGit(a, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main').code).not.toBe(0);
    // a's working tree is in layout 2 (its own side): a write goes through.
    const joined = await batonIn(['join', '--name', 'late-agent', '--role', 'worker', '--json'], { cwd: a });
    expect(joined.code, joined.stdout).toBe(0);
    await b(a, 'add', 'during the merge', '--id', 'during');
    expect((await batonIn(['doctor', '--repair', '--json'], { cwd: a })).code).toBe(0);
    const state = boardState(join(a, 'project-plan'));
    expect(Object.keys(state.agents)).toContain('late-agent');
    expect([state.tasks.first.title, state.tasks.second.title, state.tasks.during.title]).toEqual(['first, renamed on c', 'second, renamed on a', 'during the merge']);
    await finishMerge(a, [c]);
    const doctor = await batonIn(['doctor', '--json'], { cwd: a });
    expect(doctor.json.checks.filter((k: { ok: boolean }) => !k.ok)).toEqual([]);
  });

  it('a clone still in layout 1 merged with an upgraded one: the driver stops, doctor --repair merges both sides task by task into layout 2', async () => {
    const { a, c } = await layout1OnBothClones();
    // a upgrades with its first write; c changes a task as an older baton would, by hand.
    await b(a, 'add', 'added on a', '--id', 'from-a');
    commit(a, 'a');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    editInLayout1(c, 'second', 'second, renamed on c');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code).not.toBe(0);
    const repair = await batonIn(['doctor', '--repair', '--json'], { cwd: c });
    expect(repair.code, repair.stdout).toBe(0);
    expect(JSON.parse(readFileSync(join(c, 'project-plan', 'state.json'), 'utf8')).schema).toBe(2);
    const tasks = boardState(join(c, 'project-plan')).tasks;
    expect(Object.keys(tasks).sort()).toEqual(['first', 'from-a', 'second']);
    expect(tasks.second.title).toBe('second, renamed on c');
    await finishMerge(c, [a]);
  });
});

describe('the board index: a write reads the shards its rules ask for', () => {
  /** Ids starting with `prefix`, each in a shard of its own. */
  function apart(prefix: string, n: number): string[] {
    const out: string[] = [];
    const used = new Set<string>();
    for (let i = 0; out.length < n; i++) {
      const id = `${prefix}${i}`;
      if (used.has(shardOf(id))) continue;
      used.add(shardOf(id));
      out.push(id);
    }
    return out;
  }
  const join_ = (board: TestBoard, name: string, env: Record<string, string> = {}) => {
    const j = board.json('join', '--name', name, '--role', 'worker');
    return { ...env, BATON_SESSION: j.session.id, BATON_TOKEN: j.token };
  };
  const as = (board: TestBoard, env: Record<string, string>, ...args: string[]) => {
    const r = baton([...args, '--json'], { cwd: board.root, env });
    return { ...r.json, _code: r.code };
  };

  it('a shard changed behind the index (a write with BATON_NO_INDEX=1, a hand edit) is read again: limits, dependents and leases see it', async () => {
    const board = makeBoard(['--profile', 'safe']);
    const [x, y, a, d, c] = apart('k', 5);
    for (const id of [x, y, d, c]) expect(board.json('add', id, '--id', id)._code).toBe(0);
    expect(board.json('add', a!, '--id', a!, '--no-review')._code).toBe(0);
    expect(existsSync(join(board.dir, '.baton.lock.tasks'))).toBe(true);
    // A write that leaves the index as it was: the index still has x to do and nobody's.
    const w1 = join_(board, 'w1');
    expect(as(board, { ...w1, BATON_NO_INDEX: '1' }, 'claim', x!)._code).toBe(0);
    // safe allows one task in progress: the claim of y must see x held (its shard's stamp moved).
    const second = as(board, w1, 'claim', y!);
    expect([second._code, second.error?.code, second.error?.in_flight]).toEqual([3, 'LIMIT_REACHED', [x]]);
    // A hand edit: d now waits for a (another shard). Finishing a must say d is ready.
    const shardD = join(board.dir, 'tasks', `${shardOf(d!)}.json`);
    const tasks = JSON.parse(readFileSync(shardD, 'utf8'));
    tasks[d!].depends_on = [a];
    writeFileSync(shardD, `${JSON.stringify(sorted(tasks), null, 2)}\n`);
    const w2 = join_(board, 'w2');
    expect(as(board, w2, 'claim', a!)._code).toBe(0);
    expect(as(board, w2, 'done', a!)._code).toBe(0);
    const events = board.json('events', '--type', 'task.ready', '--limit', '50').events;
    expect(events.map((e: { task: string; data: { after: string } }) => [e.task, e.data.after])).toContainEqual([d, a]);
    // A lease taken by a hand edit, run out: the next claim by anyone takes it back.
    const shardC = join(board.dir, 'tasks', `${shardOf(c!)}.json`);
    const cs = JSON.parse(readFileSync(shardC, 'utf8'));
    cs[c!] = { ...cs[c!], status: 'in_progress', assignee: 'w1', lease: { session: w1.BATON_SESSION, expires_at: '2000-01-01T00:00:00.000Z', heartbeat_at: '2000-01-01T00:00:00.000Z', token_hash: 'x' } };
    writeFileSync(shardC, `${JSON.stringify(sorted(cs), null, 2)}\n`);
    const w3 = join_(board, 'w3');
    // Shards changed in the last two seconds are read again whatever their stamps (a coarse clock
    // and a recycled inode could repeat one): made an hour old, a write records them settled.
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const n of readdirSync(join(board.dir, 'tasks'))) utimesSync(join(board.dir, 'tasks', n), hourAgo, hourAgo);
    expect(as(board, w3, 'heartbeat')._code).toBe(0);
    const timed = baton(['claim', y!, '--json'], { cwd: board.root, env: { ...w3, BATON_TIMINGS: '1' } });
    expect(timed.code, timed.stdout).toBe(0);
    expect(board.json('show', c!).task.status).toBe('todo');
    // What the claim read: y's shard and c's (its lease ran out), not all 64 as without the index.
    const read = (r: { stderr: string }) => JSON.parse(/baton-timing (\{.*\})/.exec(r.stderr)![1]!).shards_read;
    expect(read(timed)).toBe(2);
    expect(as(board, w3, 'release', y!)._code).toBe(0);
    expect(read(baton(['claim', y!, '--json'], { cwd: board.root, env: { ...w3, BATON_TIMINGS: '1', BATON_NO_INDEX: '1' } }))).toBe(64);
    expect(board.json('doctor').healthy).toBe(true);
  });

  it('the render reads the board index and gives, after every kind of write, the bytes a render of the whole board gives', async () => {
    // The generated files and the read index, as they are.
    const generated = (board: TestBoard) => {
      const files = ['STATUS.md', 'AGENTS.md', 'SESSIONS.md', 'HANDOFFS.md', 'NOTIFICATIONS.md', 'handoff-index.json', '.baton.lock.index'];
      const out: Record<string, string> = {};
      for (const f of files) out[f] = readFileSync(join(board.dir, f), 'utf8');
      const bundles = join(board.dir, 'handoffs');
      if (existsSync(bundles)) for (const f of readdirSync(bundles)) out[`handoffs/${f}`] = readFileSync(join(bundles, f), 'utf8');
      return out;
    };
    const hourAgo = () => new Date(Date.now() - 3_600_000);
    for (const size of [14, 70]) {
      const board = makeBoard(['--profile', 'balanced']);
      const tasks = [
        { id: 'g', title: 'the goal', kind: 'goal' },
        { id: 'g2', title: 'another goal', kind: 'goal' },
        ...JSON.parse(plan(size)).tasks.map((t: { id: string }, i: number) => ({ ...t, ...(i % 4 === 1 ? { parent: i % 8 === 1 ? 'g' : 'g2' } : {}), ...(i % 5 === 2 ? { labels: ['l', 'm'] } : {}) })),
      ];
      writeFileSync(join(board.root, 'plan.json'), JSON.stringify({ tasks }));
      expect(baton(['import', 'plan.json', '--json'], { cwd: board.root }).code).toBe(0);
      const [w1, w2] = ['w1', 'w2'].map((n) => join_(board, n));
      const rj = board.json('join', '--name', 'rv', '--role', 'reviewer');
      const rv = { BATON_SESSION: rj.session.id, BATON_TOKEN: rj.token };
      let viaIndex = 0;
      let fewer = 0;
      const wholeRenders: string[] = [];
      // `baton render` renders the whole board (it trusts no index), in-process here.
      const renderWhole = async () => expect((await batonIn(['render'], { cwd: board.root })).code).toBe(0);
      /** Runs a write, then renders the whole board: the files must not change. */
      const step = async (env: Record<string, string>, ...args: string[]) => {
        // The shards the last write wrote made an hour old: the index records them settled, so the
        // render reads its rows and its cache. (Rendered whole after, so a command that writes
        // nothing leaves files that name these stamps.)
        for (const n of readdirSync(join(board.dir, 'tasks'))) {
          const path = join(board.dir, 'tasks', n);
          if (statSync(path).mtimeMs > Date.now() - 600_000) utimesSync(path, hourAgo(), hourAgo());
        }
        await renderWhole();
        const r = baton([...args, '--json'], { cwd: board.root, env: { ...env, BATON_TIMINGS: '1' } });
        const timing = JSON.parse(/baton-timing (\{.*\})/.exec(r.stderr)?.[1] ?? '{}');
        // A write that read lazily (claim-next reads whole, and hands its board to the render) renders through the index.
        if (timing.phases?.commit !== undefined && args[0] !== 'claim-next') {
          if (timing.render_shards_read === undefined) wholeRenders.push(args.join(' '));
          else if (timing.render_shards_read < 16) fewer++;
          viaIndex++;
        }
        const mine = generated(board);
        await renderWhole();
        expect(mine, `after ${args.join(' ')}`).toEqual(generated(board));
        return { ...r.json, _code: r.code };
      };
      await step(w1, 'add', 'an added task', '--id', 'added', '--depends-on', 'p-0', '--parent', 'g', '--label', 'm');
      for (let round = 0; round < 6; round++) {
        const c = await step(round % 2 ? w2 : w1, 'claim-next');
        expect([0, 6]).toContain(c._code);
        if (c._code !== 0) continue;
        if (round === 1) expect((await step(w2, 'release', c.task.id))._code).toBe(0);
        else if (round === 2) expect((await step(w1, 'block', c.task.id, '--reason', 'waits on a person'))._code).toBe(0);
        else if (round === 3) expect((await step(w2, 'handoff', c.task.id, '--to', 'worker', '--notes', 'over to you'))._code).toBe(0);
        else {
          expect((await step(round % 2 ? w2 : w1, 'done', c.task.id))._code).toBe(0);
          const r = await step(rv, 'review', 'next');
          if (r._code === 0) expect((await step(rv, 'review', ...(round % 4 ? ['approve', r.task.id] : ['reject', r.task.id, '--notes', 'again'])))._code).toBe(0);
        }
      }
      expect((await step(w1, 'add', 'a gate', '--id', 'gate', '--kind', 'gate', '--gate-type', 'ci', '--match', 'branch=main'))._code).toBe(0);
      expect((await step(w1, 'edit', 'p-2', '--priority', 'P0', '--title', 'retitled'))._code).toBe(0);
      expect((await step(w1, 'dep', 'add', 'p-3', 'added'))._code).toBe(0);
      expect((await step(w1, 'cancel', 'p-4'))._code).toBe(0);
      expect((await step(w1, 'heartbeat'))._code).toBe(0);
      expect((await step(w2, 'leave'))._code).toBe(0);
      // Every one of them went through the index (a fall-back to a whole read would pass the
      // comparison unseen), and on the bigger board most read a few shards of 64.
      expect(wholeRenders, `size ${size}`).toEqual([]);
      expect(viaIndex, `size ${size}`).toBeGreaterThan(10);
      if (size > 50) expect(fewer, `size ${size}`).toBeGreaterThan(viaIndex / 2);
      expect(board.json('doctor').healthy).toBe(true);
    }
  }, 240_000);

  it('the same commands give the same board and the same events with the index and without it (BATON_NO_INDEX=1)', async () => {
    const run = (off: boolean) => {
      const board = makeBoard(['--profile', 'balanced']);
      const env: Record<string, string> = off ? { BATON_NO_INDEX: '1' } : {};
      const goals = JSON.stringify({ tasks: [{ id: 'g', title: 'goal', kind: 'goal' }, ...JSON.parse(plan(60)).tasks.map((t: { id: string }, i: number) => ({ ...t, ...(i < 12 ? { parent: 'g' } : {}) }))] });
      writeFileSync(join(board.root, 'plan.json'), goals);
      expect(baton(['import', 'plan.json', '--json'], { cwd: board.root, env }).code).toBe(0);
      const agents = ['w1', 'w2', 'w3'].map((n) => ({ ...join_(board, n, env) }));
      const rv = { ...join_(board, 'rv', env) };
      for (let round = 0; round < 14; round++) {
        const me = agents[round % 3]!;
        const c = as(board, me, 'claim-next');
        if (c._code !== 0) continue;
        if (round % 5 === 4) {
          expect(as(board, me, 'release', c.task.id)._code).toBe(0);
          continue;
        }
        expect(as(board, me, 'heartbeat')._code).toBe(0);
        expect(as(board, me, 'done', c.task.id)._code).toBe(0);
        const r = as(board, rv, 'review', 'next');
        if (r._code === 0) expect(as(board, rv, 'review', ...(round % 4 ? ['approve', r.task.id] : ['reject', r.task.id, '--notes', 'again']))._code).toBe(0);
      }
      expect(as(board, agents[0]!, 'leave')._code).toBe(0);
      expect(baton(['add', 'late', '--id', 'late', '--depends-on', 'p-59', '--json'], { cwd: board.root, env }).code).toBe(0);
      const events = readJsonl(join(board.dir, 'events.jsonl')).map((e) => [e.type, e.task, e.actor]);
      const tasks = board.json('list').tasks.map((t: { id: string; status: string; assignee: string | null; reviewer: string | null }) => [t.id, t.status, t.assignee, t.reviewer]);
      expect(board.json('doctor').healthy).toBe(true);
      return { events, tasks };
    };
    const withIndex = run(false);
    const without = run(true);
    expect(withIndex.events.length).toBeGreaterThan(60);
    expect(withIndex).toEqual(without);
  });
});
