import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { boardBlobs } from '../bench/board-blobs.mjs';
import { batonIn, readJsonl, tempDir, boardState } from './helpers.js';

/** Repositories for the git tests: a bare remote, clones with the driver, and the check that nothing committed is lost. */

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tryGit(cwd: string, ...args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: git(cwd, ...args) };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, out: `${err.stdout}${err.stderr}` };
  }
}

/** A baton command on this clone, in-process, whose answer must be a success: the JSON of it. */
export const b = async (cwd: string, ...args: string[]) => {
  const r = await batonIn([...args, '--json'], { cwd });
  if (r.code !== 0) throw new Error(`baton ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.json;
};

/** A bare remote and two clones of a repository holding a board, with the driver installed in each. */
export async function twoMachines() {
  const root = tempDir();
  const remote = join(root, 'remote.git');
  git(root, 'init', '-q', '--bare', '-b', 'main', remote);
  const a = join(root, 'a');
  git(root, 'clone', '-q', remote, a);
  await b(a, 'init', '--name', 'shared');
  await b(a, 'add', 'first', '--id', 'first');
  await b(a, 'add', 'second', '--id', 'second');
  await b(a, 'git', 'install');
  git(a, 'add', '-A');
  git(a, 'commit', '-q', '-m', 'board');
  git(a, 'push', '-q', 'origin', 'HEAD:main');
  const c = join(root, 'c');
  git(root, 'clone', '-q', '-b', 'main', remote, c);
  await b(c, 'git', 'install');
  return { a, c };
}

/** Two machines with one agent joined on each, both known on both boards. */
export async function twoAgents(nameA: string, nameC: string) {
  const m = await twoMachines();
  const ja = await b(m.a, 'join', '--name', nameA, '--role', 'worker');
  await b(m.a, 'sync');
  await b(m.c, 'sync');
  const jc = await b(m.c, 'join', '--name', nameC, '--role', 'worker');
  await b(m.c, 'sync');
  await b(m.a, 'sync');
  return { ...m, ja, jc, envA: { BATON_SESSION: ja.session.id, BATON_TOKEN: ja.token }, envC: { BATON_SESSION: jc.session.id, BATON_TOKEN: jc.token } };
}

export const commit = (cwd: string, msg: string) => {
  git(cwd, 'add', '-A');
  git(cwd, 'commit', '-q', '-m', msg);
};

// ---------------------------------------------------------------- nothing is lost, whatever git operation runs

/** Every event id and task id in any version of the board that git has, on any ref or in the reflog. */
function everCommitted(repo: string): { events: Set<string>; tasks: Set<string> } {
  const events = new Set<string>();
  const tasks = new Set<string>();
  const blobs = boardBlobs(repo);
  for (const text of blobs.events) {
    for (const line of text.split('\n')) {
      try {
        const e = JSON.parse(line) as { id?: string };
        if (e.id) events.add(e.id);
      } catch {
        /* a conflict marker committed by hand, or an empty line */
      }
    }
  }
  for (const text of blobs.states) {
    try {
      for (const id of Object.keys(JSON.parse(text).tasks ?? {})) tasks.add(id);
    } catch {
      /* conflict markers committed by hand */
    }
  }
  // In layout 2 the tasks are in shards, each a JSON object of tasks keyed by id.
  for (const text of blobs.shards) {
    try {
      for (const id of Object.keys(JSON.parse(text))) tasks.add(id);
    } catch {
      /* conflict markers committed by hand */
    }
  }
  return { events, tasks };
}

/** The whole log as the board holds it now: archives in order, then the live log. */
function wholeLog(repo: string): any[] {
  const dir = join(repo, 'project-plan');
  const archive = join(dir, 'archive', 'events');
  const files = existsSync(archive) ? readdirSync(archive).filter((n) => n.endsWith('.jsonl')).sort() : [];
  return [...files.flatMap((f) => readJsonl(join(archive, f))), ...readJsonl(join(dir, 'events.jsonl'))];
}

/** After any git operation and one baton write: nothing ever committed is missing, seq runs 1..n, doctor is clean. */
export async function expectNothingLost(repo: string, also: string[] = []) {
  const ever = everCommitted(repo);
  for (const other of also) {
    const more = everCommitted(other);
    for (const e of more.events) ever.events.add(e);
    for (const t of more.tasks) ever.tasks.add(t);
  }
  const log = wholeLog(repo);
  expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
  expect(new Set(log.map((e) => e.id)).size).toBe(log.length);
  const have = new Set(log.map((e) => e.id));
  expect([...ever.events].filter((id) => !have.has(id))).toEqual([]);
  const state = boardState(join(repo, 'project-plan'));
  expect(state.seq).toBe(log.length);
  // A task is on the board or in its archive (archive/tasks/): never gone.
  const archive = join(repo, 'project-plan', 'archive', 'tasks');
  const archived = new Set((existsSync(archive) ? readdirSync(archive).filter((n) => n.endsWith('.jsonl')) : []).flatMap((f) => readJsonl(join(archive, f)).map((r) => r.id as string)));
  expect([...ever.tasks].filter((id) => !state.tasks[id] && !archived.has(id))).toEqual([]);
  const doctor = await batonIn(['doctor', '--json'], { cwd: repo });
  expect(doctor.code, doctor.stdout).toBe(0);
  expect(doctor.json.checks.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
  return { log, state };
}

/** Another clone of the machines' remote, where `baton git install` was never run. */
export function cloneWithoutDriver(a: string): string {
  const d = join(dirname(a), 'd');
  git(dirname(a), 'clone', '-q', '-b', 'main', join(dirname(a), 'remote.git'), d);
  return d;
}

/** Two clones that each did some work (tasks, a claim, a message) on top of the shared board. */
export async function divergedMachines() {
  const m = await twoMachines();
  const ja = await b(m.a, 'join', '--name', 'alice', '--role', 'worker');
  const envA = { BATON_SESSION: ja.session.id, BATON_TOKEN: ja.token };
  expect((await batonIn(['claim', 'first', '--json'], { cwd: m.a, env: envA })).code).toBe(0);
  await b(m.a, 'add', 'from a', '--id', 'from-a');
  commit(m.a, 'a: claim first, add from-a');
  await b(m.a, 'add', 'from a again', '--id', 'from-a2');
  commit(m.a, 'a: add from-a2');
  git(m.a, 'push', '-q', 'origin', 'HEAD:main');
  const jc = await b(m.c, 'join', '--name', 'carol', '--role', 'worker');
  const envC = { BATON_SESSION: jc.session.id, BATON_TOKEN: jc.token };
  await b(m.c, 'add', 'from c', '--id', 'from-c');
  commit(m.c, 'c: add from-c');
  expect((await batonIn(['send', '--to', 'all', 'hello from c', '--json'], { cwd: m.c, env: envC })).code).toBe(0);
  await b(m.c, 'block', 'second', '--reason', 'waiting on c');
  commit(m.c, 'c: message, block second');
  return { ...m, envA, envC };
}

// ---------------------------------------------------------------- branches

/** One repository with a board on `main` (tasks one and two), the driver installed, committed. */
export async function boardOnMain(): Promise<string> {
  const repo = join(tempDir(), 'repo');
  git(dirname(repo), 'init', '-q', '-b', 'main', repo);
  await b(repo, 'init', '--name', 'branches');
  await b(repo, 'add', 'one', '--id', 'one');
  await b(repo, 'add', 'two', '--id', 'two');
  await b(repo, 'git', 'install');
  commit(repo, 'board');
  return repo;
}

const liveLog = (repo: string) => readJsonl(join(repo, 'project-plan', 'events.jsonl'));
const stateOf = (repo: string) => boardState(join(repo, 'project-plan'));

/** The board's tasks as id → status. */
export const statuses = (repo: string): Record<string, string> => Object.fromEntries(Object.entries(stateOf(repo).tasks).map(([id, t]) => [id, (t as { status: string }).status]));

/**
 * A baton write on whatever HEAD is: the log before it stays as it was, and every event it adds
 * is this write's own (its revision): nothing of another branch comes back, nothing is reconciled.
 */
export async function writeHere(repo: string, args: string[], env: Record<string, string> = {}) {
  const before = liveLog(repo).map((e) => e.id);
  const r = await batonIn([...args, '--json'], { cwd: repo, env });
  expect(r.code, `baton ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  const after = liveLog(repo);
  expect(after.slice(0, before.length).map((e) => e.id)).toEqual(before);
  const added = after.slice(before.length);
  expect(added.length).toBeGreaterThan(0);
  expect(added.filter((e) => e.revision !== stateOf(repo).revision || e.type === 'board.reconciled')).toEqual([]);
  expect(Object.values(stateOf(repo).tasks).filter((t: any) => t.blocked?.reason?.startsWith('restored'))).toEqual([]);
  return r.json;
}

/**
 * Merges each branch into the current one with the driver: every merge clean, no MERGE-CONFLICT.md,
 * then one write, doctor clean, and every task at the status given.
 */
export async function mergeCleanly(repo: string, branches: string[], want: Record<string, string>) {
  const events = new Set<string>(liveLog(repo).map((e) => e.id));
  for (const br of branches) {
    for (const line of git(repo, 'show', `${br}:project-plan/events.jsonl`).split('\n').filter(Boolean)) events.add(JSON.parse(line).id);
    const m = tryGit(repo, 'merge', '-q', '--no-edit', br);
    expect(m.code, m.out).toBe(0);
    expect(existsSync(join(repo, 'project-plan', 'MERGE-CONFLICT.md'))).toBe(false);
  }
  await b(repo, 'render');
  const doctor = await batonIn(['doctor', '--json'], { cwd: repo });
  expect(doctor.json.checks.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
  expect(doctor.code, doctor.stdout).toBe(0);
  expect(statuses(repo)).toEqual(want);
  const merged = new Set(liveLog(repo).map((e) => e.id));
  expect([...events].filter((id) => !merged.has(id))).toEqual([]);
}
