import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../src/rules/layout.js';
import { batonIn, hashTree, readJsonl, tempDir, boardState, writeBoardState } from './helpers.js';
import { b, boardOnMain, cloneWithoutDriver, commit, divergedMachines, expectNothingLost, git, mergeCleanly, statuses, tryGit, twoAgents, twoMachines, writeHere } from './git-helpers.js';

/** Boards committed to git: the structural merge driver and every git operation a person runs, on real repositories. */

describe('git install', () => {
  it('adds the attributes, the drivers and the board\'s ignore lines once; twice changes nothing; no hook writes the tree; uninstall removes them', async () => {
    const root = tempDir();
    git(root, 'init', '-q', '-b', 'main');
    await b(root, 'init');
    // An older board and install: its .gitignore lacks the local files, and its post-merge render
    // (it left the tree dirty and blocked checkouts) is taken out.
    writeFileSync(join(root, 'project-plan', '.gitignore'), '.baton.lock\n.baton.lock.*\n');
    writeFileSync(join(root, '.git', 'hooks', 'post-merge'), '#!/bin/sh\n# baton:start\nbaton render\n# baton:end\n');
    const first = await b(root, 'git', 'install');
    expect(first.changed).toEqual(expect.arrayContaining(['.gitattributes', 'git config merge.baton.driver', 'project-plan/.gitignore', '.git/hooks/post-merge']));
    expect(existsSync(join(root, '.git', 'hooks', 'post-merge'))).toBe(false);
    const attrs = readFileSync(join(root, '.gitattributes'), 'utf8');
    expect(attrs).toContain('project-plan/state.json merge=baton');
    expect(attrs).toContain('project-plan/archive/events/*.jsonl merge=baton');
    expect(attrs).toContain('project-plan/*.md linguist-generated=true merge=baton-generated');
    expect(readFileSync(join(root, 'project-plan', '.gitignore'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['MERGE-CONFLICT.md', 'cursors.json', 'cursors.seen']));
    const before = hashTree(join(root, '.git'));
    const attrsBefore = readFileSync(join(root, '.gitattributes'), 'utf8');
    expect((await b(root, 'git', 'install')).changed).toEqual([]);
    expect(hashTree(join(root, '.git'))).toEqual(before);
    expect(readFileSync(join(root, '.gitattributes'), 'utf8')).toBe(attrsBefore);
    await b(root, 'git', 'uninstall');
    expect(existsSync(join(root, '.gitattributes'))).toBe(false);
    expect(tryGit(root, 'config', '--get', 'merge.baton.driver').code).not.toBe(0);
  });

  it('refuses to follow an exported BATON_DIR into another repository', async () => {
    const root = tempDir();
    const one = join(root, 'one');
    const two = join(root, 'two');
    for (const r of [one, two]) {
      mkdirSync(r);
      git(r, 'init', '-q', '-b', 'main');
    }
    await b(one, 'init');
    const r = await batonIn(['git', 'install', '--json'], { cwd: two, env: { BATON_DIR: join(one, 'project-plan') } });
    expect([r.code, r.json.error.code]).toEqual([2, 'INVALID_INPUT']);
    expect(r.json.error.message).toContain('another repository');
    expect(existsSync(join(one, '.gitattributes'))).toBe(false);
    expect((await b(one, 'git', 'install')).changed).toContain('.gitattributes');
  });
});

describe('merging boards', () => {
  it('two clones change different tasks: the merge combines both, events once each, seq renumbered, doctor clean', async () => {
    const { a, c } = await twoMachines();
    await b(a, 'edit', 'first', '--title', 'first, edited on a');
    await b(a, 'add', 'from a', '--id', 'from-a');
    const ja = await b(a, 'join', '--name', 'alice', '--role', 'worker');
    await batonIn(['claim', 'from-a', '--json'], { cwd: a, env: { BATON_SESSION: ja.session.id, BATON_TOKEN: ja.token } });
    commit(a, 'a works');
    git(a, 'push', '-q', 'origin', 'HEAD:main');

    await b(c, 'add', 'from c', '--id', 'from-c');
    await b(c, 'block', 'second', '--reason', 'waiting on c');
    commit(c, 'c works');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code, pull.out).toBe(0);

    const list = (await b(c, 'list')).tasks;
    const byId = Object.fromEntries(list.map((t: { id: string }) => [t.id, t]));
    expect(Object.keys(byId).sort()).toEqual(['first', 'from-a', 'from-c', 'second']);
    expect(byId.first.title).toBe('first, edited on a');
    expect(byId['from-a']).toMatchObject({ status: 'in_progress', assignee: 'alice' });
    expect(byId.second.status).toBe('blocked');
    const events = readJsonl(join(c, 'project-plan', 'events.jsonl'));
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.at(-1).type).toBe('board.merged');
    // No hook rewrites the tree after a merge: the generated files wait for the next baton write,
    // doctor says so, and nothing blocks a checkout.
    expect(pull.out).not.toContain('Merged');
    expect((await b(c, 'doctor')).checks.filter((x: { ok: boolean }) => !x.ok).map((x: { name: string }) => x.name)).toEqual(['projections']);
    expect(tryGit(c, 'status', '--porcelain').out.trim()).toBe('');
    expect(tryGit(c, 'checkout', '-q', '-b', 'elsewhere').code).toBe(0);
    expect(tryGit(c, 'checkout', '-q', 'main').code).toBe(0);
    await b(c, 'render');
    const doctor = await b(c, 'doctor');
    expect(doctor.checks.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
    commit(c, 'c: regenerated board files');

    // And the other way: a pulls c's merge and sees the same board.
    git(c, 'push', '-q', 'origin', 'HEAD:main');
    expect(tryGit(a, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main').code).toBe(0);
    expect(JSON.stringify(boardState(join(a, 'project-plan')))).toBe(JSON.stringify(boardState(join(c, 'project-plan'))));
    expect((await b(a, 'doctor')).healthy).toBe(true);
  });

  it('both clones move the same task to different statuses: the merge stops with a note, the board stays usable, and following the note loses nothing', async () => {
    const { a, c } = await twoMachines();
    await b(a, 'block', 'first', '--reason', 'on a');
    await b(a, 'add', 'only on a', '--id', 'only-a');
    commit(a, 'a blocks');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    await b(c, 'cancel', 'first');
    await b(c, 'add', 'only on c', '--id', 'only-c');
    commit(c, 'c cancels');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code).not.toBe(0);
    const note = readFileSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'), 'utf8');
    expect(note).toContain('| `first` | status | "cancelled" | "blocked" |');
    expect(note).not.toContain('git checkout --theirs');
    // The file left unmerged is the one holding the task: its shard.
    expect(tryGit(c, 'diff', '--name-only', '--diff-filter=U').out).toContain(`project-plan/tasks/${shardOf('first')}.json`);
    // The board is usable in the middle of the merge: both sides' tasks are there.
    const ids = (await b(c, 'list')).tasks.map((t: { id: string }) => t.id);
    expect(ids).toEqual(expect.arrayContaining(['only-a', 'only-c', 'first']));
    const doctor = await batonIn(['doctor', '--json'], { cwd: c });
    expect([doctor.code, doctor.json.error.code]).toEqual([7, 'BOARD_CORRUPT']);
    expect(doctor.json.error.hint).toContain('doctor --repair');
    // Agents keep working meanwhile; sync refuses to touch the merge in progress.
    await b(c, 'add', 'during the merge', '--id', 'during', '--description', 'important');
    const sync = await batonIn(['sync', '--json'], { cwd: c });
    expect([sync.code, sync.json.error.code]).toEqual([3, 'MERGE_FAILED']);
    expect(sync.json.error.message).toContain('middle of merge');
    expect(existsSync(join(c, '.git', 'MERGE_HEAD'))).toBe(true);

    // The note's steps, literally.
    expect((await b(c, 'doctor', '--repair')).repaired.join(' ')).toContain(`resolved project-plan/tasks/${shardOf('first')}.json`);
    expect((await b(c, 'show', 'during')).task).toMatchObject({ status: 'todo', description: 'important' });
    if ((await b(c, 'show', 'first')).task.status !== 'cancelled') await b(c, 'cancel', 'first');
    git(c, 'add', 'project-plan');
    git(c, 'commit', '-q', '--no-edit');
    expect(tryGit(c, 'status', '--porcelain').out).not.toContain('MERGE-CONFLICT.md');
    rmSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'));
    await b(c, 'add', 'after the merge', '--id', 'after');
    const { state } = await expectNothingLost(c, [a]);
    expect(state.tasks.first.status).toBe('cancelled');
    expect(state.tasks['only-a']).toBeDefined();
    expect(state.tasks['only-c']).toBeDefined();
  });

  it('a clone without the driver: doctor says so, and doctor --repair inside the conflicted merge resolves the board in one command', async () => {
    const { a } = await twoMachines();
    const d = cloneWithoutDriver(a);
    const warned = await b(d, 'doctor');
    expect(warned.checks.find((x: { name: string }) => x.name === 'git-driver')).toMatchObject({ ok: false, fix: 'baton git install' });
    await b(a, 'add', 'from a', '--id', 'from-a');
    commit(a, 'a adds');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    await b(d, 'add', 'from d', '--id', 'from-d');
    await b(d, 'block', 'second', '--reason', 'on d');
    commit(d, 'd adds');
    const pull = tryGit(d, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code).not.toBe(0);
    expect(readFileSync(join(d, 'project-plan', 'state.json'), 'utf8')).toContain('<<<<<<<');
    expect((await batonIn(['list', '--json'], { cwd: d })).code).toBe(7);
    const repair = await b(d, 'doctor', '--repair');
    expect(repair.repaired.join(' ')).toContain("with baton's merge");
    expect(tryGit(d, 'diff', '--name-only', '--diff-filter=U').out.trim()).toBe('');
    git(d, 'commit', '-q', '--no-edit');
    await b(d, 'add', 'after the merge', '--id', 'after');
    await b(d, 'git', 'install');
    const { state } = await expectNothingLost(d, [a]);
    expect(state.tasks['from-a']).toBeDefined();
    expect(state.tasks['from-d']).toBeDefined();
    expect(state.tasks.second.status).toBe('blocked');
  });

  it('conflict markers committed by hand: doctor --repair merges both sides, task by task', async () => {
    const { a } = await twoMachines();
    const d = cloneWithoutDriver(a);
    await b(a, 'add', 'from a', '--id', 'from-a');
    commit(a, 'a adds');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    await b(d, 'add', 'from d', '--id', 'from-d');
    commit(d, 'd adds');
    expect(tryGit(d, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main').code).not.toBe(0);
    commit(d, 'a merge with its conflict markers committed');
    const broken = await batonIn(['list', '--json'], { cwd: d });
    expect(broken.code).toBe(7);
    expect(broken.json.error.hint).toContain('doctor --repair');
    expect(broken.json.error.hint).not.toContain('keep one side');
    await b(d, 'doctor', '--repair');
    await b(d, 'add', 'after', '--id', 'after');
    await b(d, 'git', 'install');
    const { state } = await expectNothingLost(d, [a]);
    expect(state.tasks['from-a']).toBeDefined();
    expect(state.tasks['from-d']).toBeDefined();
  });
});

describe('nothing committed is lost, whatever git operation a person runs', () => {
  it('pull --rebase: the replayed board keeps every event once, numbered 1..n, and the next write keeps them all', async () => {
    const { a, c } = await divergedMachines();
    const r = tryGit(c, 'pull', '-q', '--rebase', 'origin', 'main');
    expect(r.code, r.out).toBe(0);
    await b(c, 'add', 'after the rebase', '--id', 'after');
    const { state } = await expectNothingLost(c, [a]);
    expect(state.tasks.first.status).toBe('in_progress');
    expect(state.tasks.second.status).toBe('blocked');
  });

  it('revert of a board commit: the next write deletes nothing, the claim stays in the history', async () => {
    const { c } = await divergedMachines();
    const r = tryGit(c, 'revert', '--no-edit', 'HEAD~1');
    expect(r.code, r.out).toBe(0);
    await b(c, 'add', 'after the revert', '--id', 'after');
    const { log, state } = await expectNothingLost(c);
    expect(state.tasks['from-c']).toBeDefined();
    expect(log.some((e) => e.type === 'message.sent')).toBe(true);
  });

  it('revert or reset of the newest board commit (git merges no file then): the next write brings its events and tasks back from git', async () => {
    const { c } = await divergedMachines();
    const r = tryGit(c, 'revert', '--no-edit', 'HEAD');
    expect(r.code, r.out).toBe(0);
    const doctor = await b(c, 'doctor');
    expect(doctor.checks.find((x: { name: string }) => x.name === 'log').message).toContain('out of the log');
    await b(c, 'add', 'after the revert', '--id', 'after');
    const { log, state } = await expectNothingLost(c);
    expect(log.some((e) => e.type === 'message.sent')).toBe(true);
    expect(log.find((e) => e.type === 'board.reconciled')?.data.recovered_from_git).toBeGreaterThan(0);
    expect(state.tasks.second).toBeDefined();

    git(c, 'reset', '-q', '--hard', 'HEAD~1');
    await b(c, 'add', 'after the reset', '--id', 'after-reset');
    await expectNothingLost(c);
  });

  it('cherry-pick of board commits, then a merge of their branch: shared events are counted once', async () => {
    const { a, c } = await divergedMachines();
    git(c, 'fetch', '-q', 'origin');
    const r = tryGit(c, 'cherry-pick', 'origin/main~1');
    expect(r.code, r.out).toBe(0);
    await b(c, 'add', 'between', '--id', 'between');
    commit(c, 'c: between');
    const m = tryGit(c, 'merge', '-q', '--no-edit', 'origin/main');
    expect(m.code, m.out).toBe(0);
    await b(c, 'add', 'after the merge', '--id', 'after');
    await expectNothingLost(c, [a]);
  });

  it('merge --squash, then a merge of the squashed branch: nothing twice, nothing lost', async () => {
    const { a, c } = await divergedMachines();
    git(c, 'fetch', '-q', 'origin');
    const sq = tryGit(c, 'merge', '--squash', 'origin/main');
    expect(sq.code, sq.out).toBe(0);
    git(c, 'commit', '-q', '-m', 'squashed a');
    const m = tryGit(c, 'merge', '-q', '--no-edit', 'origin/main');
    expect(m.code, m.out).toBe(0);
    await b(c, 'add', 'after the merge', '--id', 'after');
    await expectNothingLost(c, [a]);
  });

  it('rebase -i dropping a board commit in the middle: its task and events stay', async () => {
    const { c } = await divergedMachines();
    await b(c, 'add', 'third commit', '--id', 'third');
    commit(c, 'c: third');
    const r = tryGit(c, '-c', "sequence.editor=sed -i -e '2s/^pick/drop/'", 'rebase', '-q', '-i', 'HEAD~3');
    expect(r.code, r.out).toBe(0);
    expect(tryGit(c, 'log', '--format=%s').out).not.toContain('c: message, block second');
    await b(c, 'add', 'after the rebase', '--id', 'after');
    const { log } = await expectNothingLost(c);
    expect(log.some((e) => e.type === 'message.sent')).toBe(true);
  });

  it('stash, another write committed, stash pop: both writes survive', async () => {
    const { c } = await divergedMachines();
    await b(c, 'add', 'stashed', '--id', 'stashed');
    git(c, 'stash', '-q');
    await b(c, 'add', 'while stashed', '--id', 'while-stashed');
    commit(c, 'c: while stashed');
    const r = tryGit(c, 'stash', 'pop', '-q');
    expect(r.code, r.out).toBe(0);
    await b(c, 'add', 'after the pop', '--id', 'after');
    const { state } = await expectNothingLost(c);
    expect(state.tasks.stashed).toBeDefined();
    expect(state.tasks['while-stashed']).toBeDefined();
  });

  it('a log that git left longer than the state is reconciled, never truncated, and says so', async () => {
    const { c } = await divergedMachines();
    const dir = join(c, 'project-plan');
    const state = boardState(dir);
    // What a hand resolution leaves: the state of one side, the log of both.
    state.seq -= 2;
    writeBoardState(dir, state);
    commit(c, 'a hand-made disagreement');
    const before = readJsonl(join(dir, 'events.jsonl')).map((e) => e.id);
    const doctor = await b(c, 'doctor');
    expect(doctor.healthy).toBe(false);
    expect(doctor.checks.find((x: { name: string }) => x.name === 'log').message).toContain('disagree');
    await b(c, 'add', 'after', '--id', 'after');
    const { log } = await expectNothingLost(c);
    for (const id of before) expect(log.some((e) => e.id === id)).toBe(true);
    expect(log.find((e) => e.type === 'board.reconciled')?.data).toMatchObject({ state_seq: state.seq, duplicates: 0 });
  });
});

describe('branches stay apart: a checkout is not a loss', () => {
  it('two feature branches with a write after every switch: each holds only its own tasks and events, and merging both into main gives all of them', async () => {
    const repo = await boardOnMain();
    const sw = (to: string) => git(repo, 'switch', '-q', to);
    const has = (...ids: string[]) => expect(Object.keys(statuses(repo)).sort()).toEqual(ids.sort());
    git(repo, 'switch', '-q', '-c', 'f1');
    await writeHere(repo, ['add', 'f1 a', '--id', 'f1a']);
    await writeHere(repo, ['edit', 'two', '--title', 'two, edited on f1']);
    commit(repo, 'f1: f1a, two edited');
    sw('main');
    await writeHere(repo, ['add', 'on main', '--id', 'm1']);
    has('one', 'two', 'm1');
    commit(repo, 'main: m1');
    git(repo, 'switch', '-q', '-c', 'f2');
    await writeHere(repo, ['add', 'f2 a', '--id', 'f2a']);
    await writeHere(repo, ['edit', 'one', '--priority', '0']);
    const j = await writeHere(repo, ['join', '--name', 'fiona', '--role', 'worker']);
    await writeHere(repo, ['claim', 'f2a'], { BATON_SESSION: j.session.id, BATON_TOKEN: j.token });
    has('one', 'two', 'm1', 'f2a');
    commit(repo, 'f2: f2a claimed, one edited');
    sw('f1');
    await writeHere(repo, ['add', 'f1 b', '--id', 'f1b']);
    has('one', 'two', 'f1a', 'f1b');
    commit(repo, 'f1: f1b');
    sw('main');
    await writeHere(repo, ['edit', 'm1', '--title', 'on main, edited']);
    has('one', 'two', 'm1');
    commit(repo, 'main: m1 edited');
    sw('f2');
    await writeHere(repo, ['add', 'f2 b', '--id', 'f2b']);
    has('one', 'two', 'm1', 'f2a', 'f2b');
    expect(statuses(repo).f2a).toBe('in_progress');
    commit(repo, 'f2: f2b');
    sw('main');
    await writeHere(repo, ['add', 'on main again', '--id', 'm2']);
    has('one', 'two', 'm1', 'm2');
    commit(repo, 'main: m2');

    await mergeCleanly(repo, ['f1', 'f2'], { one: 'todo', two: 'todo', m1: 'todo', m2: 'todo', f1a: 'todo', f1b: 'todo', f2a: 'in_progress', f2b: 'todo' });
    const tasks = (await b(repo, 'list')).tasks;
    const byId = Object.fromEntries(tasks.map((t: { id: string }) => [t.id, t]));
    expect([byId.two.title, byId.one.priority, byId.m1.title]).toEqual(['two, edited on f1', 0, 'on main, edited']);
    expect(byId.f2a.assignee).toBe('fiona');
  });

  it('a detached look at older commits (a read and a write there, committed or thrown away), and a bisect, bring nothing back', async () => {
    const repo = await boardOnMain();
    await writeHere(repo, ['add', 'three', '--id', 'three']);
    commit(repo, 'three');
    await writeHere(repo, ['add', 'four', '--id', 'four']);
    commit(repo, 'four');
    const want = { one: 'todo', two: 'todo', three: 'todo', four: 'todo' };

    // A look whose write is committed on the detached HEAD, then left behind.
    git(repo, 'checkout', '-q', '--detach', 'HEAD~2');
    const read = await b(repo, 'status');
    expect([read.total, read.ready.map((t: { id: string }) => t.id).sort(), read.blocked]).toEqual([2, ['one', 'two'], []]);
    await writeHere(repo, ['add', 'while looking', '--id', 'look']);
    expect(Object.keys(statuses(repo)).sort()).toEqual(['look', 'one', 'two']);
    commit(repo, 'a write while looking');
    const look = git(repo, 'rev-parse', 'HEAD').trim();
    git(repo, 'checkout', '-q', 'main');
    await writeHere(repo, ['add', 'five', '--id', 'five']);
    expect(statuses(repo)).toEqual({ ...want, five: 'todo' });
    commit(repo, 'five');

    // A look whose write is thrown away.
    git(repo, 'checkout', '-q', '--detach', 'HEAD~1');
    await writeHere(repo, ['edit', 'one', '--title', 'edited while looking']);
    git(repo, 'checkout', '-q', '-f', 'main');
    await writeHere(repo, ['add', 'six', '--id', 'six']);
    expect(statuses(repo)).toEqual({ ...want, five: 'todo', six: 'todo' });
    commit(repo, 'six');

    // A bisect with a write at a step, then reset.
    git(repo, 'bisect', 'start', 'HEAD', 'HEAD~4');
    await writeHere(repo, ['add', 'while bisecting', '--id', 'probe']);
    git(repo, 'reset', '-q', '--hard');
    git(repo, 'bisect', 'reset');
    await writeHere(repo, ['add', 'seven', '--id', 'seven']);
    expect(statuses(repo)).toEqual({ ...want, five: 'todo', six: 'todo', seven: 'todo' });
    commit(repo, 'seven');

    // What was looked at comes when it is asked for: the look's commit merges cleanly.
    await mergeCleanly(repo, [look], { ...want, five: 'todo', six: 'todo', seven: 'todo', look: 'todo' });
  });

  it('git switch - after a write on the other branch, then a claim: each side keeps its own, and they merge', async () => {
    const repo = await boardOnMain();
    git(repo, 'switch', '-q', '-c', 'feature');
    await writeHere(repo, ['add', 'feature work', '--id', 'feat']);
    await writeHere(repo, ['block', 'two', '--reason', 'waiting on the feature']);
    commit(repo, 'feature: feat, two blocked');
    git(repo, 'switch', '-q', '-');
    const j = await writeHere(repo, ['join', '--name', 'mo', '--role', 'worker']);
    const env = { BATON_SESSION: j.session.id, BATON_TOKEN: j.token };
    await writeHere(repo, ['claim', 'one'], env);
    expect(statuses(repo)).toEqual({ one: 'in_progress', two: 'todo' });
    commit(repo, 'main: one claimed');
    git(repo, 'switch', '-q', '-');
    await writeHere(repo, ['add', 'more feature work', '--id', 'feat2']);
    expect(statuses(repo)).toEqual({ one: 'todo', two: 'blocked', feat: 'todo', feat2: 'todo' });
    commit(repo, 'feature: feat2');
    git(repo, 'switch', '-q', '-');
    await writeHere(repo, ['send', '--to', 'all', 'back on main'], env);
    expect(statuses(repo)).toEqual({ one: 'in_progress', two: 'todo' });
    commit(repo, 'main: heartbeat');
    await mergeCleanly(repo, ['feature'], { one: 'in_progress', two: 'blocked', feat: 'todo', feat2: 'todo' });
  });

  it('a stash and pop around a switch: the stashed write comes back with the pop, not before', async () => {
    const repo = await boardOnMain();
    git(repo, 'switch', '-q', '-c', 'feature');
    await writeHere(repo, ['add', 'feature work', '--id', 'feat']);
    commit(repo, 'feature: feat');
    await writeHere(repo, ['add', 'stashed work', '--id', 'stashed']);
    git(repo, 'stash', '-q');
    git(repo, 'switch', '-q', 'main');
    await writeHere(repo, ['add', 'on main', '--id', 'm1']);
    expect(statuses(repo)).toEqual({ one: 'todo', two: 'todo', m1: 'todo' });
    commit(repo, 'main: m1');
    git(repo, 'switch', '-q', 'feature');
    expect(tryGit(repo, 'stash', 'pop', '-q').code).toBe(0);
    await writeHere(repo, ['add', 'after the pop', '--id', 'popped']);
    expect(statuses(repo)).toEqual({ one: 'todo', two: 'todo', feat: 'todo', stashed: 'todo', popped: 'todo' });
    commit(repo, 'feature: stashed, popped');
    git(repo, 'switch', '-q', 'main');
    await mergeCleanly(repo, ['feature'], { one: 'todo', two: 'todo', m1: 'todo', feat: 'todo', stashed: 'todo', popped: 'todo' });
  });
});

describe('what git really loses still comes back', () => {
  const reconciled = (repo: string) => readJsonl(join(repo, 'project-plan', 'events.jsonl')).filter((e) => e.type === 'board.reconciled');

  it('reset --hard of a local commit, and rebase -i dropping the newest: the next write brings their tasks back from git, and the merge with the remote is clean', async () => {
    const { a, c } = await divergedMachines();
    await b(c, 'add', 'local only', '--id', 'local');
    commit(c, 'c: local');
    git(c, 'reset', '-q', '--hard', 'HEAD~1');
    expect(statuses(c).local).toBeUndefined();
    await b(c, 'add', 'after the reset', '--id', 'after-reset');
    expect(reconciled(c).at(-1)?.data).toMatchObject({ restored_tasks: ['local'] });
    expect(reconciled(c).at(-1)?.data.recovered_from_git).toBeGreaterThan(0);
    commit(c, 'c: after the reset');

    await b(c, 'add', 'dropped by a rebase', '--id', 'dropped');
    commit(c, 'c: dropped');
    const r = tryGit(c, '-c', "sequence.editor=sed -i -e '2s/^pick/drop/'", 'rebase', '-q', '-i', 'HEAD~2');
    expect(r.code, r.out).toBe(0);
    expect(statuses(c).dropped).toBeUndefined();
    await b(c, 'add', 'after the rebase', '--id', 'after-rebase');
    expect(reconciled(c).at(-1)?.data).toMatchObject({ restored_tasks: ['dropped'] });
    commit(c, 'c: after the rebase');

    const want = { ...statuses(c), 'from-a': 'todo', 'from-a2': 'todo', first: 'in_progress' };
    expect(want).toMatchObject({ local: 'blocked', dropped: 'blocked', second: 'blocked' });
    git(c, 'fetch', '-q', 'origin');
    await mergeCleanly(c, ['origin/main'], want);
    await b(c, 'add', 'after the merge', '--id', 'after-merge');
    await expectNothingLost(c, [a]);
  });

  it('pull --rebase onto an upstream rewound to older events drops the local copy of a pushed commit; the next write brings it back', async () => {
    const { a, c } = await twoMachines();
    await b(c, 'add', 'pushed by c', '--id', 'pushed');
    commit(c, 'c: pushed');
    git(c, 'push', '-q', 'origin', 'HEAD:main');
    // Someone rewinds main to older events and pushes over c's commit.
    await b(a, 'add', 'from a', '--id', 'from-a');
    commit(a, 'a: from-a');
    git(a, 'push', '-q', '-f', 'origin', 'HEAD:main');
    const pull = tryGit(c, 'pull', '-q', '--rebase', 'origin', 'main');
    expect(pull.code, pull.out).toBe(0);
    expect(statuses(c).pushed).toBeUndefined(); // git's fork-point dropped it
    await b(c, 'add', 'after the pull', '--id', 'after');
    expect(reconciled(c).at(-1)?.data).toMatchObject({ restored_tasks: ['pushed'] });
    expect(statuses(c)).toEqual({ first: 'todo', second: 'todo', 'from-a': 'todo', pushed: 'blocked', after: 'todo' });
    commit(c, 'c: after the pull');
    git(c, 'push', '-q', 'origin', 'HEAD:main');
    git(a, 'fetch', '-q', 'origin');
    await mergeCleanly(a, ['origin/main'], statuses(c));
    await b(a, 'add', 'after the merge', '--id', 'after-merge');
    await expectNothingLost(a, [c]);
  });
});

describe('acks across git', () => {
  it('an event that git brings in below a reader\'s ack stays unread, for the inbox and a named cursor; cursors are never committed', async () => {
    const { a, c, envA, envC } = await twoAgents('alice', 'carol');
    // c's work reaches the remote first.
    await b(c, 'add', 'c one', '--id', 'c1');
    await b(c, 'add', 'c two', '--id', 'c2');
    await b(c, 'sync');
    // a sends a message, then syncs: its merge keeps a's events where they are, c's follow them.
    expect((await batonIn(['send', '--to', 'all', 'from alice', '--json'], { cwd: a, env: envA })).code).toBe(0);
    await b(a, 'sync');
    // c has read all it has, and acks, before it pulls.
    const acked = await batonIn(['inbox', 'ack', '--json'], { cwd: c, env: envC });
    expect(acked.code, acked.stdout).toBe(0);
    await b(c, 'events', 'ack', '--cursor', 'watcher');
    // A fast-forward to a's merge: alice's message now sits at a seq below c's ack.
    await b(c, 'sync');
    const message = readJsonl(join(c, 'project-plan', 'events.jsonl')).find((e) => e.type === 'message.sent');
    expect(message.seq).toBeLessThanOrEqual(acked.json.acked);
    const inbox = await batonIn(['inbox', '--json'], { cwd: c, env: envC });
    expect(inbox.json.notifications.map((n: { text: string }) => n.text)).toContain('[from alice] from alice');
    const events = await b(c, 'events', '--cursor', 'watcher');
    expect(events.events.map((e: { id: string }) => e.id)).toContain(message.id);
    // Acking again covers it, and the inbox is empty.
    expect((await batonIn(['inbox', 'ack', '--json'], { cwd: c, env: envC })).code).toBe(0);
    expect((await batonIn(['inbox', '--json'], { cwd: c, env: envC })).json.notifications).toEqual([]);
    for (const m of [a, c]) expect(tryGit(m, 'ls-files', 'project-plan/cursors.json', 'project-plan/cursors.seen').out.trim()).toBe('');
    expect(tryGit(c, 'status', '--porcelain').out.trim()).toBe('');
  });
});
