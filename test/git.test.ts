import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baton, hashTree, readJsonl, tempDir } from './helpers.js';

/** Boards committed to git: the structural merge driver, on real repositories. */

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryGit(cwd: string, ...args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: git(cwd, ...args) };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, out: `${err.stdout}${err.stderr}` };
  }
}

const b = (cwd: string, ...args: string[]) => {
  const r = baton([...args, '--json'], { cwd });
  if (r.code !== 0) throw new Error(`baton ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.json;
};

/** A bare remote and two clones of a repository holding a board, with the driver installed in each. */
function twoMachines() {
  const root = tempDir();
  const remote = join(root, 'remote.git');
  git(root, 'init', '-q', '--bare', '-b', 'main', remote);
  const a = join(root, 'a');
  git(root, 'clone', '-q', remote, a);
  b(a, 'init', '--name', 'shared');
  b(a, 'add', 'first', '--id', 'first');
  b(a, 'add', 'second', '--id', 'second');
  b(a, 'git', 'install');
  git(a, 'add', '-A');
  git(a, 'commit', '-q', '-m', 'board');
  git(a, 'push', '-q', 'origin', 'HEAD:main');
  const c = join(root, 'c');
  git(root, 'clone', '-q', '-b', 'main', remote, c);
  b(c, 'git', 'install');
  return { a, c };
}

const commit = (cwd: string, msg: string) => {
  git(cwd, 'add', '-A');
  git(cwd, 'commit', '-q', '-m', msg);
};

describe('git install', () => {
  it('adds the attributes, the drivers and the hook once; twice changes nothing; uninstall removes them', () => {
    const root = tempDir();
    git(root, 'init', '-q', '-b', 'main');
    b(root, 'init');
    const first = b(root, 'git', 'install');
    expect(first.changed).toEqual(expect.arrayContaining(['.gitattributes', 'git config merge.baton.driver', '.git/hooks/post-merge']));
    const attrs = readFileSync(join(root, '.gitattributes'), 'utf8');
    expect(attrs).toContain('project-plan/state.json merge=baton');
    expect(attrs).toContain('project-plan/*.md linguist-generated=true merge=baton-generated');
    const before = hashTree(join(root, '.git'));
    const attrsBefore = readFileSync(join(root, '.gitattributes'), 'utf8');
    expect(b(root, 'git', 'install').changed).toEqual([]);
    expect(hashTree(join(root, '.git'))).toEqual(before);
    expect(readFileSync(join(root, '.gitattributes'), 'utf8')).toBe(attrsBefore);
    b(root, 'git', 'uninstall');
    expect(existsSync(join(root, '.gitattributes'))).toBe(false);
    expect(tryGit(root, 'config', '--get', 'merge.baton.driver').code).not.toBe(0);
  });
});

describe('merging boards', () => {
  it('two clones change different tasks: the merge combines both, events once each, seq renumbered, doctor clean', () => {
    const { a, c } = twoMachines();
    b(a, 'edit', 'first', '--title', 'first, edited on a');
    b(a, 'add', 'from a', '--id', 'from-a');
    const ja = b(a, 'join', '--name', 'alice', '--role', 'worker');
    baton(['claim', 'from-a', '--json'], { cwd: a, env: { BATON_SESSION: ja.session.id, BATON_TOKEN: ja.token } });
    commit(a, 'a works');
    git(a, 'push', '-q', 'origin', 'HEAD:main');

    b(c, 'add', 'from c', '--id', 'from-c');
    b(c, 'block', 'second', '--reason', 'waiting on c');
    commit(c, 'c works');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code, pull.out).toBe(0);

    const list = b(c, 'list').tasks;
    const byId = Object.fromEntries(list.map((t: { id: string }) => [t.id, t]));
    expect(Object.keys(byId).sort()).toEqual(['first', 'from-a', 'from-c', 'second']);
    expect(byId.first.title).toBe('first, edited on a');
    expect(byId['from-a']).toMatchObject({ status: 'in_progress', assignee: 'alice' });
    expect(byId.second.status).toBe('blocked');
    const events = readJsonl(join(c, 'project-plan', 'events.jsonl'));
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.at(-1).type).toBe('board.merged');
    const doctor = b(c, 'doctor');
    expect(doctor.checks.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);

    // And the other way: a pulls c's merge and sees the same board.
    git(c, 'push', '-q', 'origin', 'HEAD:main');
    expect(tryGit(a, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main').code).toBe(0);
    expect(readFileSync(join(a, 'project-plan', 'state.json'), 'utf8')).toBe(readFileSync(join(c, 'project-plan', 'state.json'), 'utf8'));
    expect(b(a, 'doctor').healthy).toBe(true);
  });

  it('both clones move the same task to different statuses: the merge stops with a conflict note, nothing chosen', () => {
    const { a, c } = twoMachines();
    b(a, 'block', 'first', '--reason', 'on a');
    commit(a, 'a blocks');
    git(a, 'push', '-q', 'origin', 'HEAD:main');
    b(c, 'cancel', 'first');
    commit(c, 'c cancels');
    const pull = tryGit(c, 'pull', '-q', '--no-rebase', '--no-edit', 'origin', 'main');
    expect(pull.code).not.toBe(0);
    const note = readFileSync(join(c, 'project-plan', 'MERGE-CONFLICT.md'), 'utf8');
    expect(note).toContain('| `first` | status | "cancelled" | "blocked" |');
    expect(tryGit(c, 'diff', '--name-only', '--diff-filter=U').out).toContain('project-plan/state.json');
    const doctor = baton(['doctor', '--json'], { cwd: c });
    expect(doctor.code === 7 || doctor.json?.error?.code === 'BOARD_CORRUPT').toBe(true);
  });
});

describe('sync between machines', () => {
  it('sync commits, merges and pushes, so two machines converge', () => {
    const { a, c } = twoMachines();
    b(a, 'add', 'on a', '--id', 'on-a');
    b(c, 'add', 'on c', '--id', 'on-c');
    expect(b(a, 'sync')).toMatchObject({ pushed: true, committed: true });
    const sc = b(c, 'sync');
    expect(sc).toMatchObject({ pushed: true, merged: true });
    expect(b(a, 'sync').merged).toBe(true);
    const ids = (cwd: string) => b(cwd, 'list').tasks.map((t: { id: string }) => t.id).sort();
    expect(ids(a)).toEqual(ids(c));
    expect(ids(a)).toEqual(['first', 'on-a', 'on-c', 'second']);
    expect(readFileSync(join(a, 'project-plan', 'state.json'), 'utf8')).toBe(readFileSync(join(c, 'project-plan', 'state.json'), 'utf8'));
    expect(b(c, 'doctor').healthy).toBe(true);
    expect(tryGit(c, 'status', '--porcelain').out.trim()).toBe('');
  });

  it('two machines race claim --sync for the same task 20 times: exactly one wins each time, the loser gets LEASE_CONFLICT and a clean board', async () => {
    const { a, c } = twoMachines();
    const ja = b(a, 'join', '--name', 'on-a', '--role', 'worker');
    b(a, 'sync');
    b(c, 'sync');
    const jc = b(c, 'join', '--name', 'on-c', '--role', 'worker');
    b(c, 'sync');
    b(a, 'sync');
    const envA = { BATON_SESSION: ja.session.id, BATON_TOKEN: ja.token };
    const envC = { BATON_SESSION: jc.session.id, BATON_TOKEN: jc.token };
    const { batonAsync } = await import('./helpers.js');
    for (let i = 0; i < 20; i++) {
      b(a, 'add', `race ${i}`, '--id', `r${i}`, '--no-review');
      b(a, 'sync');
      b(c, 'sync');
      const [ra, rc] = await Promise.all([
        batonAsync(['claim', `r${i}`, '--sync', '--json'], { cwd: a, env: envA }),
        batonAsync(['claim', `r${i}`, '--sync', '--json'], { cwd: c, env: envC }),
      ]);
      const codes = [ra.code, rc.code].sort();
      expect(codes, `${ra.stdout}\n${rc.stdout}`).toEqual([0, 3]);
      const loser = ra.code === 3 ? ra : rc;
      expect(loser.json.error.code).toBe('LEASE_CONFLICT');
      const loserDir = ra.code === 3 ? a : c;
      expect(tryGit(loserDir, 'status', '--porcelain').out.trim()).toBe('');
      // Both machines agree on the winner after syncing.
      b(a, 'sync');
      b(c, 'sync');
      const winner = ra.code === 0 ? 'on-a' : 'on-c';
      expect(b(a, 'show', `r${i}`).task.assignee).toBe(winner);
      expect(b(c, 'show', `r${i}`).task.assignee).toBe(winner);
      // Finish it, so the next round's claims are not refused by the in-flight limit.
      const w = ra.code === 0 ? { cwd: a, env: envA } : { cwd: c, env: envC };
      expect((await batonAsync(['done', `r${i}`, '--json'], w)).code).toBe(0);
      b(w.cwd, 'sync');
      b(w.cwd === a ? c : a, 'sync');
    }
    expect(b(a, 'doctor').healthy).toBe(true);
    expect(b(c, 'doctor').healthy).toBe(true);
  }, 300_000);
});
