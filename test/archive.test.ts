import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batonIn, makeBoardIn, readJsonl, boardState, writeBoardState } from './helpers.js';
import { b, cloneWithoutDriver, commit, expectNothingLost, git, tryGit, twoMachines } from './git-helpers.js';

/** Finished tasks moved to archive/tasks/ (SPEC §13): nothing deleted, every id still resolves. */

const month = () => new Date().toISOString().slice(0, 7);

async function worker(board: { root: string }) {
  const j = await batonIn(['join', '--name', 'w', '--role', 'worker', '--json'], { cwd: board.root });
  return { BATON_SESSION: j.json.session.id, BATON_TOKEN: j.json.token };
}

describe('archive', () => {
  it('round trip: archived tasks leave state.json, and show, dependencies, ids, import, doctor and STATUS.md still know them', async () => {
    const board = await makeBoardIn(['--profile', 'throughput']);
    await board.json('add', 'goal', '--id', 'goal', '--kind', 'goal');
    for (const id of ['a', 'b', 'kid', 'kid2']) await board.json('add', id, '--id', id, ...(id.startsWith('kid') ? ['--parent', 'goal'] : []));
    // A sub-goal with one child: when the child is done the sub-goal is too, but the top goal is open.
    await board.json('add', 'sub', '--id', 'sub', '--kind', 'goal', '--parent', 'goal');
    await board.json('add', 'grandkid', '--id', 'grandkid', '--parent', 'sub');
    await board.json('add', 'c', '--id', 'c', '--depends-on', 'a');
    const env = await worker(board);
    for (const id of ['a', 'kid', 'grandkid']) {
      expect((await batonIn(['claim', id, '--json'], { cwd: board.root, env })).code).toBe(0);
      expect((await batonIn(['done', id, '--json'], { cwd: board.root, env })).code).toBe(0);
    }
    await board.json('cancel', 'b');

    const r = await board.json('archive');
    expect((await board.json('show', 'sub')).task.status).toBe('done');
    // kid, sub and grandkid are done but the goal above them is open: they stay for its progress.
    expect(r).toMatchObject({ ok: true, archived: 2, truncated: false, file: `archive/tasks/${month()}.jsonl`, older_than_days: 0 });
    expect([...r.ids].sort()).toEqual(['a', 'b']);
    const state = boardState(board.dir);
    expect(Object.keys(state.tasks).sort()).toEqual(['c', 'goal', 'grandkid', 'kid', 'kid2', 'sub']);
    const lines = readJsonl(join(board.dir, r.file));
    expect(lines.map((l) => [l.id, l.task.status])).toEqual(expect.arrayContaining([['a', 'done'], ['b', 'cancelled']]));
    expect(readFileSync(join(board.dir, 'archive', 'tasks', 'ids.txt'), 'utf8').split('\n').filter(Boolean).sort()).toEqual(['a', 'b']);

    // show finds it, with its history (the archiving included).
    const shown = await board.json('show', 'a');
    expect(shown.task).toMatchObject({ id: 'a', status: 'done', assignee: 'w' });
    expect(shown.archived).toMatchObject({ file: r.file });
    expect(shown.history.map((e: { type: string }) => e.type)).toEqual(['task.created', 'task.claimed', 'task.done', 'task.archived']);
    expect((await board.json('show', 'c')).archived).toBeNull();
    // A dependency on it counts as finished; a new one may name it.
    expect((await board.json('list', '--ready')).tasks.map((t: { id: string }) => t.id)).toContain('c');
    expect((await board.json('dep', 'add', 'kid2', 'a'))._code).toBe(0);
    expect((await board.json('add', 'd', '--id', 'd', '--depends-on', 'a,b'))._code).toBe(0);
    // Its id is never used again, and it can't change.
    const reuse = await board.json('add', 'again', '--id', 'a');
    expect([reuse._code, reuse.error.code]).toEqual([2, 'INVALID_INPUT']);
    expect(reuse.error.message).toContain('archive');
    for (const args of [['claim', 'a'], ['edit', 'a', '--title', 'x'], ['block', 'a', '--reason', 'x']]) {
      const refused = await batonIn([...args, '--json'], { cwd: board.root, env });
      expect([refused.code, refused.json.error.code, refused.json.error.archived], args.join(' ')).toEqual([3, 'TASK_ARCHIVED', true]);
    }
    const plan = join(board.root, 'plan.yaml');
    writeFileSync(plan, '- id: a\n  title: a re-imported\n- id: e\n  title: e\n  depends_on: [b]\n');
    const imp = await board.json('import', plan);
    expect([imp.created, imp.archived]).toEqual([['e'], ['a']]);
    expect((await board.json('show', 'a')).task.title).toBe('a');

    // The board's own views: status, STATUS.md (recent work stays visible), doctor.
    const status = await board.json('status');
    expect(status.archive).toEqual({ archived: 2, after_days: 30 });
    expect(status.recently_done.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(['a', 'kid', 'grandkid']));
    const md = readFileSync(join(board.dir, 'STATUS.md'), 'utf8');
    expect(md).toContain('Task archive: 2 finished tasks in archive/tasks/');
    expect(md.slice(md.indexOf('## Recently done'), md.indexOf('## Dependency graph'))).toContain('`a`');
    const doctor = await board.json('doctor');
    expect(doctor.healthy).toBe(true);
    expect(doctor.checks.find((c: { name: string }) => c.name === 'archive').message).toContain('2 archived task(s)');

    // Nothing left to archive: nothing is written.
    const again = await board.json('archive');
    expect([again.archived, again.revision]).toEqual([0, (await board.json('status')).revision]);
    // The goal finishes: its children may go now.
    for (const id of ['kid2']) {
      expect((await batonIn(['claim', id, '--json'], { cwd: board.root, env })).code).toBe(0);
      expect((await batonIn(['done', id, '--json'], { cwd: board.root, env })).code).toBe(0);
    }
    expect((await board.json('show', 'goal')).task.status).toBe('done');
    expect((await board.json('archive')).ids.sort()).toEqual(['goal', 'grandkid', 'kid', 'kid2', 'sub']);
    expect((await board.json('doctor')).healthy).toBe(true);
  });

  it('tasks.archive_after_days archives finished tasks older than that on every 25th write', async () => {
    const board = await makeBoardIn(['--profile', 'throughput']);
    for (const id of ['old', 'young', 'open']) await board.json('add', id, '--id', id);
    const env = await worker(board);
    for (const id of ['old', 'young']) {
      await batonIn(['claim', id, '--json'], { cwd: board.root, env });
      await batonIn(['done', id, '--json'], { cwd: board.root, env });
    }
    // A person's edit: one task finished 40 days ago, one 20 (the default keeps 30 days).
    const state = boardState(board.dir);
    const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
    state.tasks.old.updated_at = ago(40);
    state.tasks.young.updated_at = ago(20);
    writeBoardState(board.dir, state);
    let revision = state.revision;
    while ((revision + 1) % 25 !== 0) revision = (await board.json('edit', 'open', '--title', `open ${revision}`)).revision;
    expect(existsSync(join(board.dir, 'archive', 'tasks'))).toBe(false);
    const last = await board.json('edit', 'open', '--title', 'the 25th write');
    expect(last.revision % 25).toBe(0);
    const tasks = boardState(board.dir).tasks;
    expect(Object.keys(tasks).sort()).toEqual(['open', 'young']);
    const archived = readJsonl(join(board.dir, 'archive', 'tasks', `${month()}.jsonl`));
    expect(archived.map((l) => l.id)).toEqual(['old']);
    const event = readJsonl(join(board.dir, 'events.jsonl')).find((e) => e.type === 'task.archived');
    expect(event).toMatchObject({ task: 'old', revision: last.revision, data: { by: 'auto', status: 'done' } });
    expect(readFileSync(join(board.dir, 'STATUS.md'), 'utf8')).toContain('finished tasks move there 30 days after they last changed');
  });

  it('what an archiving killed before its commit leaves: reads see the task on the board, the next write cuts the archive back', async () => {
    const board = await makeBoardIn(['--profile', 'throughput']);
    await board.json('add', 'one', '--id', 'one');
    await board.json('cancel', 'one');
    const committed = readFileSync(join(board.dir, 'state.json'), 'utf8');
    const state = boardState(board.dir);
    // Exactly what a writer leaves when killed after appending the archive lines and its events,
    // before its rename: its journal, the archive line and id, the event past state.seq.
    const rel = join('archive', 'tasks', `${month()}.jsonl`);
    const ts = new Date().toISOString();
    const ghost = { id: 'e-ghost', seq: state.seq + 1, ts, revision: state.revision + 1, type: 'task.archived', actor: null, session: null, task: 'one', data: {}, notify: null };
    const journal = { revision_before: state.revision, revision_after: state.revision + 1, base_seq: state.seq, log_size: statSync(join(board.dir, 'events.jsonl')).size, ids: ['e-ghost'], archive: { file: rel, size: 0, ids_size: 0 }, pid: 99999, host: 'elsewhere' };
    writeFileSync(join(board.dir, '.baton.lock.journal'), JSON.stringify(journal));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(board.dir, 'archive', 'tasks'), { recursive: true });
    writeFileSync(join(board.dir, rel), `${JSON.stringify({ id: 'one', archived_at: ts, event: 'e-ghost', task: state.tasks.one })}\n{"id":"one","arch`);
    writeFileSync(join(board.dir, 'archive', 'tasks', 'ids.txt'), 'one\n');
    appendFileSync(join(board.dir, 'events.jsonl'), `${JSON.stringify(ghost)}\n`);

    // Reads: the task is on the board, not archived.
    const shown = await board.json('show', 'one');
    expect([shown.task.status, shown.archived]).toEqual(['cancelled', null]);
    expect((await board.json('list')).tasks.map((t: { id: string }) => t.id)).toEqual(['one']);
    expect(readFileSync(join(board.dir, 'state.json'), 'utf8')).toBe(committed);
    // The next write undoes it: the archive holds nothing the board did not let go of.
    await board.json('add', 'two', '--id', 'two');
    expect(readFileSync(join(board.dir, rel), 'utf8')).toBe('');
    expect(readFileSync(join(board.dir, 'archive', 'tasks', 'ids.txt'), 'utf8')).toBe('');
    expect((await board.json('status')).archive.archived).toBe(0);
    expect(readJsonl(join(board.dir, 'events.jsonl')).map((e) => e.id)).not.toContain('e-ghost');
    expect(Object.keys(boardState(board.dir).tasks).sort()).toEqual(['one', 'two']);
    expect((await board.json('doctor')).healthy).toBe(true);
    // And a real archiving afterwards.
    expect((await board.json('archive')).ids).toEqual(['one']);
    expect((await board.json('show', 'one')).archived).not.toBeNull();
  });
});

describe('archive and git', () => {
  it('one clone archives while the other edits: the merge loses nothing, the edit is a named conflict kept in the archive, and a clone without the driver agrees', async () => {
    const { a, c } = await twoMachines();
    for (const id of ['first', 'second']) await b(a, 'cancel', id);
    await b(a, 'add', 'late', '--id', 'late');
    commit(a, 'a: work done');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    expect(tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main').code).toBe(0);
    const d = cloneWithoutDriver(a);

    // a archives everything finished; c edits one of those tasks meanwhile; d too.
    // late: c has it as it was in the common base (todo), and never touches it.
    await b(a, 'cancel', 'late');
    const finished = ['first', 'second', 'late'];
    const edited = 'first';
    await b(a, 'archive');
    commit(a, 'a: archive');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    await b(c, 'edit', edited, '--title', 'edited on c');
    await b(c, 'add', 'from c', '--id', 'from-c');
    commit(c, 'c: edit an old task');

    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code, pull.out).toBe(0);
    await b(c, 'add', 'after the merge', '--id', 'after');
    const { state } = await expectNothingLost(c, [a]);
    // Every finished task is archived and off the board; the edit is the newest archive record.
    for (const id of finished) expect(state.tasks[id], id).toBeUndefined();
    const shown = await b(c, 'show', edited);
    expect([shown.task.title, shown.archived === null]).toEqual(['edited on c', false]);
    const conflict = readJsonl(join(c, 'project-plan', 'events.jsonl')).filter((e) => e.type === 'task.archive_conflict');
    expect(conflict.map((e) => [e.task, e.data.kept, e.data.fields, e.notify.targets])).toEqual([[edited, 'board', ['title'], ['orchestrator']]]);
    expect(conflict[0].data.board.title).toBe('edited on c');
    expect((await b(c, 'show', 'late')).task.status).toBe('cancelled');
    expect(readFileSync(join(c, 'project-plan', 'NOTIFICATIONS.md'), 'utf8')).toContain('archive-conflict');

    // A clone without the driver: git's own merge conflicts on state.json; doctor --repair merges it.
    await b(d, 'edit', edited, '--title', 'edited on d');
    commit(d, 'd: edit');
    const pd = tryGit(d, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pd.code, 'git stops on state.json without the driver').not.toBe(0);
    await b(d, 'doctor', '--repair');
    git(d, 'add', '-A');
    git(d, '-c', 'core.editor=true', 'commit', '-q', '--no-edit');
    await b(d, 'add', 'after on d', '--id', 'after-d');
    await b(d, 'git', 'install');
    const onD = await expectNothingLost(d, [a]);
    for (const id of finished) expect(onD.state.tasks[id], id).toBeUndefined();
    expect((await b(d, 'show', edited)).task.title).toBe('edited on d');
  });
});
