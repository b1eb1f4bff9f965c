import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseEnv, batonAsync, batonIn, hashTree, tempDir, boardState } from './helpers.js';
import { b, cloneWithoutDriver, commit, expectNothingLost, git, tryGit, twoAgents, twoMachines } from './git-helpers.js';

/** baton sync between machines: converging, races for a task, what a failed sync says, and a soak on three clones. */

describe('sync between machines', () => {
  it('sync commits, merges and pushes, so two machines converge', async () => {
    const { a, c } = await twoMachines();
    await b(a, 'add', 'on a', '--id', 'on-a');
    await b(c, 'add', 'on c', '--id', 'on-c');
    expect(await b(a, 'sync')).toMatchObject({ pushed: true, committed: true });
    const sc = await b(c, 'sync');
    expect(sc).toMatchObject({ pushed: true, merged: true });
    expect((await b(a, 'sync')).merged).toBe(true);
    const ids = async (cwd: string) => (await b(cwd, 'list')).tasks.map((t: { id: string }) => t.id).sort();
    expect(await ids(a)).toEqual(await ids(c));
    expect(await ids(a)).toEqual(['first', 'on-a', 'on-c', 'second']);
    expect(JSON.stringify(boardState(join(a, 'project-plan')))).toBe(JSON.stringify(boardState(join(c, 'project-plan'))));
    expect((await b(c, 'doctor')).healthy).toBe(true);
    expect(tryGit(c, 'status', '--porcelain').out.trim()).toBe('');
  });

  it('two machines race claim --sync for the same task 20 times: never two winners, the loser gets LEASE_CONFLICT and a clean board, a round lost to a slow machine leaves no claim', async () => {
    const { a, c, envA, envC } = await twoAgents('on-a', 'on-c');
    await b(a, 'add', 'race 0', '--id', 'r0', '--no-review');
    await b(a, 'sync');
    await b(c, 'sync');
    // Load can make a claim fail for a reason that is no loss of the race: the lock not had in
    // time, or the push refused until its retries ran out (both BOARD_BUSY, nothing held). Such a
    // round may have no winner, and the same task is raced again; two winners never.
    const TRANSIENT = ['BOARD_BUSY'];
    let won = 0;
    for (let round = 0; round < 20; round++) {
      const id = `r${won}`;
      // Both machines have this task in the queue, and nothing else to sync.
      const [ra, rc] = await Promise.all([
        batonAsync(['claim', id, '--sync', '--json'], { cwd: a, env: envA }),
        batonAsync(['claim', id, '--sync', '--json'], { cwd: c, env: envC }),
      ]);
      const said = `${ra.stdout}${ra.stderr}\n${rc.stdout}${rc.stderr}`;
      const winners = [ra, rc].filter((r) => r.code === 0);
      expect(winners.length, said).toBeLessThanOrEqual(1);
      if (winners.length === 0) {
        expect([ra, rc].map((r) => [r.code, TRANSIENT.includes(r.json?.error?.code)]), said).toEqual([[5, true], [5, true]]);
        await b(a, 'sync');
        await b(c, 'sync');
        // Neither claim lingers: the task is free on both machines.
        for (const cwd of [a, c]) expect((await b(cwd, 'show', id)).task, said).toMatchObject({ assignee: null, status: 'todo' });
        continue;
      }
      const [winnerDir, loserDir, loser] = ra.code === 0 ? [a, c, rc] : [c, a, ra];
      if (loser.code === 3) {
        expect(loser.json.error.code, said).toBe('LEASE_CONFLICT');
        expect(tryGit(loserDir, 'status', '--porcelain').out.trim()).toBe('');
      } else expect([loser.code, loser.json?.error?.code], said).toEqual([5, 'BOARD_BUSY']);
      // The winner finishes it (so the next round's claims are not refused by the in-flight
      // limit) and queues the next race; one sync each way and both machines agree on the winner.
      const winner = ra.code === 0 ? 'on-a' : 'on-c';
      expect((await batonIn(['done', id, '--json'], { cwd: winnerDir, env: ra.code === 0 ? envA : envC })).code).toBe(0);
      if (round < 19) await b(winnerDir, 'add', `race ${won + 1}`, '--id', `r${won + 1}`, '--no-review');
      await b(winnerDir, 'sync');
      await b(loserDir, 'sync');
      for (const cwd of [a, c]) expect((await b(cwd, 'show', id)).task).toMatchObject({ assignee: winner, status: 'done' });
      won++;
    }
    // A race with no winner at all proves nothing.
    expect(won).toBeGreaterThan(0);
    expect((await b(a, 'doctor')).healthy).toBe(true);
    expect((await b(c, 'doctor')).healthy).toBe(true);
    // Syncs that held the lock across slow git commands (seconds) let it go: none is left behind.
    expect(existsSync(join(a, 'project-plan', '.baton.lock'))).toBe(false);
    expect(existsSync(join(c, 'project-plan', '.baton.lock'))).toBe(false);
  }, 1_800_000);
});

describe('sync says what went wrong, and a lost race resets exactly the task', () => {
  it('a true conflict, an uncommitted file in the way, a clone without the driver: MERGE_FAILED with the next step, the merge undone, nothing committed by accident', async () => {
    const { a, c } = await twoMachines();
    // A true conflict on one task.
    await b(a, 'block', 'first', '--reason', 'on a');
    await b(a, 'sync');
    await b(c, 'cancel', 'first');
    const r1 = await batonIn(['sync', '--json'], { cwd: c });
    expect([r1.code, r1.json.error.code]).toEqual([3, 'MERGE_FAILED']);
    expect(r1.json.error.message).toContain('first (status: "cancelled" here, "blocked" on origin)');
    expect(r1.json.error.hint).toContain('MERGE-CONFLICT.md');
    expect(tryGit(c, 'status', '--porcelain').out.trim()).toBe('');
    expect(existsSync(join(c, '.git', 'MERGE_HEAD'))).toBe(false);
    expect(existsSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'))).toBe(false);
    expect((await b(c, 'show', 'first')).task.status).toBe('cancelled');
    expect(tryGit(c, 'log', '--name-only', '--format=').out).not.toContain('MERGE-CONFLICT.md');

    // An uncommitted edit that the remote's commit would overwrite.
    const { a: a2, c: c2 } = await twoMachines();
    writeFileSync(join(a2, 'README.md'), 'from a\n');
    commit(a2, 'a: readme');
    await b(a2, 'add', 'on a', '--id', 'on-a');
    await b(a2, 'sync');
    writeFileSync(join(c2, 'README.md'), 'from c, not committed\n');
    await b(c2, 'add', 'on c', '--id', 'on-c');
    const r2 = await batonIn(['sync', '--json'], { cwd: c2 });
    expect([r2.code, r2.json.error.code]).toEqual([3, 'MERGE_FAILED']);
    expect(r2.json.error.hint).toContain('commit or stash');
    expect(r2.json.error.git).toContain('README.md');
    expect(readFileSync(join(c2, 'README.md'), 'utf8')).toBe('from c, not committed\n');

    // A clone without the driver.
    const d = cloneWithoutDriver(a2);
    await b(d, 'add', 'on d', '--id', 'on-d');
    await b(a2, 'add', 'on a again', '--id', 'on-a2');
    await b(a2, 'sync');
    const r3 = await batonIn(['sync', '--json'], { cwd: d });
    expect([r3.code, r3.json.error.code]).toEqual([3, 'MERGE_FAILED']);
    expect(r3.json.error.hint).toBe('baton git install, then baton sync');
    await b(d, 'git', 'install');
    expect((await b(d, 'sync')).pushed).toBe(true);
    await expectNothingLost(d, [a2]);
  });

  it('a lost claim --sync race while the remote also changed code: exactly the task is reset, local board work and the remote code kept', async () => {
    const { a, c } = await twoMachines();
    const ja = await b(a, 'join', '--name', 'on-a', '--role', 'worker');
    await b(a, 'add', 'race', '--id', 'race', '--no-review');
    await b(a, 'sync');
    await b(c, 'sync');
    const jc = await b(c, 'join', '--name', 'on-c', '--role', 'worker');
    const envA = { BATON_SESSION: ja.session.id, BATON_TOKEN: ja.token };
    const envC = { BATON_SESSION: jc.session.id, BATON_TOKEN: jc.token };
    writeFileSync(join(a, 'code.txt'), 'written on a\n');
    commit(a, 'a: code');
    expect((await batonIn(['claim', 'race', '--sync', '--json'], { cwd: a, env: envA })).code).toBe(0);
    await b(c, 'add', 'local work on c', '--id', 'c-local');
    const lost = await batonIn(['claim', 'race', '--sync', '--json'], { cwd: c, env: envC });
    expect([lost.code, lost.json.error.code], lost.stdout).toEqual([3, 'LEASE_CONFLICT']);
    expect(lost.json.error.message).toContain('race');
    expect(tryGit(c, 'status', '--porcelain').out.trim()).toBe('');
    expect(readFileSync(join(c, 'code.txt'), 'utf8')).toBe('written on a\n');
    expect((await b(c, 'show', 'race')).task.assignee).toBe(ja.agent.id);
    expect((await b(c, 'show', 'c-local')).task.status).toBe('todo');
    const next = await batonIn(['next', '--json'], { cwd: c, env: envC });
    expect(next.json.action).not.toBe('continue');
    // claim-next --sync: the best ready task, claimed and pushed.
    const won = await batonIn(['claim-next', '--sync', '--json'], { cwd: c, env: envC });
    expect([won.code, won.json.synced?.pushed], won.stdout).toEqual([0, true]);
    await b(a, 'sync');
    expect((await b(a, 'show', won.json.task.id)).task.assignee).toBe(jc.agent.id);
    expect((await b(a, 'show', 'c-local')).task.id).toBe('c-local');
    expect(JSON.stringify(boardState(join(a, 'project-plan')))).toBe(JSON.stringify(boardState(join(c, 'project-plan'))));
    await expectNothingLost(c, [a]);
    await expectNothingLost(a, [c]);
  });

  it('events prune on one clone and writes on the other converge without exit 7, every event archived or live once', async () => {
    const { a, c } = await twoMachines();
    for (let i = 0; i < 6; i++) await b(a, 'add', `a ${i}`, '--id', `a-${i}`);
    expect((await b(a, 'events', 'prune', '--max-rows', '3')).moved).toBeGreaterThan(0);
    await b(a, 'sync');
    for (let i = 0; i < 4; i++) await b(c, 'add', `c ${i}`, '--id', `c-${i}`);
    expect((await b(c, 'sync')).pushed).toBe(true);
    expect((await b(a, 'sync')).pushed).toBe(true);
    await b(c, 'sync');
    for (const m of [a, c]) expect((await batonIn(['events', '--json'], { cwd: m })).code).toBe(0);
    expect(JSON.stringify(boardState(join(a, 'project-plan')))).toBe(JSON.stringify(boardState(join(c, 'project-plan'))));
    await expectNothingLost(a, [c]);
    await expectNothingLost(c, [a]);
  });
});

describe('sync in a repository that is not set up for it yet', () => {
  /** A repository holding a board with a task and a joined agent, the driver installed, nothing committed. */
  async function uncommittedBoard() {
    const root = tempDir();
    const repo = join(root, 'repo');
    git(root, 'init', '-q', '-b', 'main', repo);
    await b(repo, 'init', '--name', 'new');
    await b(repo, 'add', 'first', '--id', 'first', '--no-review');
    await b(repo, 'git', 'install');
    const j = await b(repo, 'join', '--name', 'worker', '--role', 'worker');
    return { root, repo, env: { BATON_SESSION: j.session.id, BATON_TOKEN: j.token } };
  }

  /** sync, claim --sync and claim-next --sync each refuse with this code and hint, and write nothing: no claim, no commit. */
  async function expectRefused(repo: string, env: Record<string, string>, want: { exit: number; code: string; hint: string; message: string }) {
    const board = join(repo, 'project-plan');
    const before = hashTree(board);
    const head = tryGit(repo, 'rev-parse', '--verify', '-q', 'HEAD').out;
    for (const args of [['sync'], ['claim', 'first', '--sync'], ['claim-next', '--sync']]) {
      const r = await batonIn([...args, '--json'], { cwd: repo, env });
      expect([r.code, r.json?.error?.code], `${args.join(' ')}: ${r.stdout}${r.stderr}`).toEqual([want.exit, want.code]);
      expect(r.json.error.hint).toBe(want.hint);
      expect(r.json.error.message).toContain(want.message);
      expect(hashTree(board), args.join(' ')).toEqual(before);
      expect(tryGit(repo, 'rev-parse', '--verify', '-q', 'HEAD').out).toBe(head);
    }
    // Without --json: one line of error, one of the next step.
    const text = await batonIn(['sync'], { cwd: repo, env });
    const lines = text.stderr.trimEnd().split('\n');
    expect([lines.length, lines[0].startsWith('error: '), lines[0].includes(want.message), lines[1]], text.stderr).toEqual([2, true, true, `  next: ${want.hint}`]);
  }

  it('no commit yet, no remote, a detached HEAD, a rebase under way: sync, claim --sync and claim-next --sync refuse before writing anything, with the code and the git commands to run', async () => {
    const { root, repo, env } = await uncommittedBoard();
    const noCommit = 'This repository has no commit yet';
    await expectRefused(repo, env, { exit: 2, code: 'INVALID_INPUT', message: noCommit, hint: 'git add -A && git commit -m "board" && git remote add origin URL && git push -u origin HEAD' });
    git(root, 'init', '-q', '--bare', '-b', 'main', 'remote.git');
    git(repo, 'remote', 'add', 'origin', join(root, 'remote.git'));
    await expectRefused(repo, env, { exit: 2, code: 'INVALID_INPUT', message: noCommit, hint: 'git add -A && git commit -m "board" && git push -u origin HEAD' });
    commit(repo, 'board');
    git(repo, 'remote', 'remove', 'origin');
    await expectRefused(repo, env, { exit: 2, code: 'INVALID_INPUT', message: "no remote 'origin'", hint: 'git remote add origin URL && git push -u origin HEAD' });
    git(repo, 'remote', 'add', 'origin', join(root, 'remote.git'));
    git(repo, 'checkout', '-q', '--detach');
    await expectRefused(repo, env, { exit: 2, code: 'INVALID_INPUT', message: 'HEAD is detached', hint: 'git switch BRANCH, then retry (or baton sync --branch BRANCH)' });
    // A rebase stopped on a conflict also detaches HEAD: what to do then is finish the rebase.
    git(repo, 'switch', '-q', 'main');
    writeFileSync(join(repo, 'notes.txt'), 'on main\n');
    commit(repo, 'main: notes');
    git(repo, 'switch', '-q', '-c', 'side', 'HEAD~1');
    writeFileSync(join(repo, 'notes.txt'), 'on side\n');
    commit(repo, 'side: notes');
    expect(tryGit(repo, 'rebase', 'main').code).not.toBe(0);
    await expectRefused(repo, env, { exit: 3, code: 'MERGE_FAILED', message: 'git is in the middle of rebase', hint: 'finish it first (baton doctor --repair resolves the board files; then git commit or git rebase --continue), then baton sync' });
    git(repo, 'rebase', '--abort');
    // The hint's commands, followed, make a repository that syncs.
    git(repo, 'switch', '-q', 'main');
    git(repo, 'push', '-q', '-u', 'origin', 'HEAD');
    expect((await b(repo, 'sync')).pushed).toBe(true);
  });

  it('a remote with no branch yet: the first sync pushes the branch and sets its upstream, claim --sync works there, and a second clone joins in; a remote without this branch but with others is refused', async () => {
    const { root, repo, env } = await uncommittedBoard();
    const remote = join(root, 'remote.git');
    git(root, 'init', '-q', '--bare', '-b', 'main', remote);
    git(repo, 'remote', 'add', 'origin', remote);
    commit(repo, 'board');
    const won = await batonIn(['claim', 'first', '--sync', '--json'], { cwd: repo, env });
    expect([won.code, won.json.synced], won.stdout).toEqual([0, { revision: won.json.revision, committed: true, merged: false, pushed: true, attempts: 1 }]);
    expect(git(remote, 'rev-parse', 'main')).toBe(git(repo, 'rev-parse', 'HEAD'));
    expect(git(repo, 'rev-parse', '--abbrev-ref', '@{upstream}').trim()).toBe('origin/main');
    expect(tryGit(repo, 'status', '--porcelain').out.trim()).toBe('');
    const c = join(root, 'c');
    git(root, 'clone', '-q', remote, c);
    await b(c, 'git', 'install');
    expect((await b(c, 'show', 'first')).task).toMatchObject({ status: 'in_progress', assignee: 'worker' });
    await b(c, 'add', 'second', '--id', 'second');
    expect(await b(c, 'sync')).toMatchObject({ pushed: true, merged: false });
    expect(await b(repo, 'sync')).toMatchObject({ pushed: true, merged: true });
    await expectNothingLost(repo, [c]);

    // A branch the remote lacks while it has others: not started there unasked.
    git(repo, 'switch', '-q', '-c', 'feature');
    await b(repo, 'add', 'on feature', '--id', 'on-feature');
    const board = hashTree(join(repo, 'project-plan'));
    const head = git(repo, 'rev-parse', 'HEAD');
    const r = await batonIn(['sync', '--json'], { cwd: repo });
    expect([r.code, r.json.error.code]).toEqual([3, 'MERGE_FAILED']);
    expect(r.json.error.message).toBe('origin has no branch feature (it has main). Nothing was committed or pushed.');
    expect(r.json.error.hint).toBe('git push -u origin HEAD:feature to start feature there, or git switch main; then baton sync');
    expect(hashTree(join(repo, 'project-plan'))).toEqual(board);
    expect(git(repo, 'rev-parse', 'HEAD')).toBe(head);
    expect(tryGit(remote, 'rev-parse', '--verify', '-q', 'feature').code).not.toBe(0);
  });
});

describe('a soak on three clones', () => {
  it('three agents on three clones loop claim-next --sync / work / done / sync until every task is done: each done once by the one agent that won it, identical boards, doctor clean, nothing lost', async () => {
    // The same script as `npm run soak` (5 minutes of it there), bounded by work here, not time: a
    // loaded machine makes it slower, never wrong. The timeouts only catch a hang: the script
    // itself gives up after 150 turns of the agents' loops in a row with no task done.
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bench', 'soak.mjs'), '--until-done', '--tasks', '12', '--json'], { encoding: 'utf8', env: baseEnv(), maxBuffer: 1 << 26, timeout: 1_800_000 });
    expect(r.signal, r.stderr).toBe(null);
    const result = JSON.parse(r.stdout);
    expect(result.checks, JSON.stringify(result.failures)).toEqual({ identical_boards: true, doctor_clean: true, no_double_claims: true, seq_continuous: true, nothing_lost: true, no_failures: true, all_done: true, done_once_by_winner: true });
    // Each of the 12 tasks (and any follow-up an agent added) claimed by exactly one winner and done.
    expect(result.tasks).toBeGreaterThanOrEqual(12);
    expect([result.done, result.claims]).toEqual([result.tasks, result.tasks]);
    expect(r.status).toBe(0);
  }, 1_860_000);
});
