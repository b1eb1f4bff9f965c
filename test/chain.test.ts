import { copyFileSync, readdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baton, hashTree, readJsonl, type Run, boardState, writeBoardState } from './helpers.js';

/**
 * A 100,000-task dependency chain (t1 ← t2 ← … ← t100000, each also the parent of the next)
 * through the built binary: nothing that walks the graph or the parent tree may recurse on it.
 * One board for the whole file: importing it is the expensive step.
 */

const N = 100_000;
const id = (i: number) => `t${i}`;

let root: string;
let dir: string;
let session: Record<string, string>;

const run = (args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Run => baton(args, { cwd: root, ...opts });
const json = (...args: string[]): Run => {
  const r = run([...args, '--json'], { env: session });
  expect(r.json, `not JSON (exit ${r.code}): ${r.stdout.slice(0, 500)} ${r.stderr.slice(0, 500)}`).not.toBeNull();
  return r;
};
const ok = (r: Run): any => {
  expect(r.code, `${r.stdout.slice(0, 500)} ${r.stderr.slice(0, 500)}`).toBe(0);
  return r.json;
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'baton-chain-'));
  dir = join(root, 'project-plan');
  // throughput: `done` finishes a task without a review, so the chain moves on at once.
  expect(run(['init', '--name', 'chain', '--profile', 'throughput']).code).toBe(0);
  session = {};
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

// Each step is a whole process reading a 67 MB state.json; a loaded CI machine may take several times longer.
describe(`a ${N.toLocaleString('en')}-task dependency chain`, { timeout: 300_000 }, () => {
  it('imports in one transaction, renders STATUS.md, and doctor finds it healthy', () => {
    const tasks = Array.from({ length: N }, (_, k) => {
      const i = k + 1;
      return i === 1 ? { id: id(i), title: `Step ${i}` } : { id: id(i), title: `Step ${i}`, depends_on: [id(i - 1)], parent: id(i - 1) };
    });
    writeFileSync(join(root, 'chain.json'), JSON.stringify({ tasks }));
    const imported = ok(json('import', 'chain.json'));
    expect(imported.revision).toBe(1);
    expect(imported.created).toHaveLength(N);
    expect(imported.created.at(-1)).toBe(id(N));

    const state = boardState(dir);
    expect(Object.keys(state.tasks)).toHaveLength(N);
    expect(state.tasks[id(N)].depends_on).toEqual([id(N - 1)]);
    const status = readFileSync(join(dir, 'STATUS.md'), 'utf8');
    expect(status).toContain(`${N} tasks · 1 ready`);
    // The graph shows the frontier: the one ready task and what it unblocks, joined.
    expect(status).toContain(`Showing 2 of ${N} unfinished tasks, the frontier: 0 of 0 in flight, 1 of 1 ready, and 1 they unblock next, with the 1 dependencies between them.`);

    const doctor = ok(json('doctor'));
    expect(doctor.healthy, JSON.stringify(doctor.checks)).toBe(true);
    expect(doctor.checks.find((c: { name: string }) => c.name === 'cycles')).toMatchObject({ ok: true });
  });

  it('next and claim-next pick the head, then the next link once it is done', () => {
    const joined = ok(json('join', '--name', 'walker', '--role', 'worker'));
    session = { BATON_SESSION: joined.session.id, BATON_TOKEN: joined.token };

    const next = ok(json('next'));
    expect(next.action).toBe('claim');
    expect(next.task.id).toBe(id(1));
    expect(ok(json('list', '--ready')).tasks.map((t: { id: string }) => t.id)).toEqual([id(1)]);

    const claimed = ok(json('claim-next'));
    expect(claimed.task.id).toBe(id(1));
    expect(ok(json('done', id(1), '--lease-token', claimed.lease_token)).task.status).toBe('done');

    const then = ok(json('next'));
    expect(then).toMatchObject({ action: 'claim', task: { id: id(2) } });
    expect(ok(json('claim-next')).task.id).toBe(id(2));
  });

  it('show walks the 99,999-deep parent tree: nested to its limit, every descendant counted', () => {
    const shown = ok(json('show', id(1)));
    expect(shown.dependents).toEqual([id(2)]);
    expect(shown.progress).toEqual({ done: 0, cancelled: 0, total: N - 1 });
    let node = shown.children[0];
    let depth = 1;
    while (node.children.length) {
      expect(node.children).toHaveLength(1);
      node = node.children[0];
      depth++;
    }
    expect(node.id).toBe(id(depth + 1));
    expect(node.hidden).toBe(N - 1 - depth);
    const text = run(['show', id(1)]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`progress: 0 of ${N - 1} done`);
    expect(text.stdout).toContain(`… ${N - 1 - depth} more below`);
  });

  it('add --depends-on onto the tail works, and a cycle closed across the whole chain is refused, spelled out, nothing written', () => {
    const tail = id(N + 1);
    const added = ok(json('add', 'One past the end', '--id', tail, '--depends-on', id(N)));
    expect(added.task.depends_on).toEqual([id(N)]);
    const before = hashTree(dir);

    const refused = json('dep', 'add', id(1), tail);
    expect(refused.code).toBe(2);
    const err = refused.json.error;
    expect(err.code).toBe('DEPENDENCY_CYCLE');
    // t1 → t100001 → t100000 → … → t2 → t1: each waits for the next, all of the chain in it.
    expect(err.cycle).toHaveLength(N + 2);
    expect(err.cycle.slice(0, 3)).toEqual([id(1), tail, id(N)]);
    expect(err.cycle.slice(-2)).toEqual([id(2), id(1)]);
    expect(err.cycle.every((t: string, k: number) => t === id(k === 0 ? 1 : N + 2 - k))).toBe(true);
    // The message names the cycle without 100,000 ids in it: its ends, and how many between.
    expect(err.message).toContain(`dependency cycle: t1 → ${tail} → ${id(N)} → `);
    expect(err.message).toContain(`… ${N + 2 - 12} more …`);
    expect(err.message.endsWith('→ t3 → t2 → t1.')).toBe(true);

    const edit = json('edit', id(1), '--depends-on', tail);
    expect([edit.code, edit.json.error.code]).toEqual([2, 'DEPENDENCY_CYCLE']);

    writeFileSync(join(root, 'close.json'), JSON.stringify([{ id: id(1), depends_on: [tail] }]));
    const imported = json('import', 'close.json');
    expect([imported.code, imported.json.error.code]).toEqual([2, 'DEPENDENCY_CYCLE']);
    expect(imported.json.error.cycle).toHaveLength(N + 2);
    expect(imported.json.error.message).toContain('more …');

    expect(hashTree(dir)).toEqual(before);
    expect(ok(json('doctor')).healthy).toBe(true);
  });

  it('the merge driver merges its 100,000-event log and its state', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'baton-chain-merge-'));
    try {
      // The log, state.json and every task shard, each merged as git's driver would be.
      const shards = readdirSync(join(dir, 'tasks')).map((n) => `tasks/${n}`);
      let tasks = 0;
      for (const name of ['events.jsonl', 'state.json', ...shards]) {
        const [base, ours, theirs] = ['base', 'ours', 'theirs'].map((s) => join(scratch, `${s}.${name.replace('/', '-')}`));
        writeFileSync(base, '');
        copyFileSync(join(dir, name), ours);
        copyFileSync(join(dir, name), theirs);
        const r = run(['merge-driver', base, ours, theirs, `project-plan/${name}`]);
        expect(r.code, r.stderr.slice(0, 500)).toBe(0);
        if (name === 'events.jsonl') {
          const log = readJsonl(join(dir, name));
          const merged = readJsonl(ours);
          expect(merged).toHaveLength(log.length + 1);
          expect(merged.at(-1)).toMatchObject({ type: 'board.merged', seq: log.length + 1 });
        } else if (name === 'state.json') {
          expect(JSON.parse(readFileSync(ours, 'utf8')).revision).toBe(JSON.parse(readFileSync(join(dir, name), 'utf8')).revision + 1);
        } else {
          tasks += Object.keys(JSON.parse(readFileSync(ours, 'utf8'))).length;
        }
      }
      expect(tasks).toBe(N + 1);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('doctor finds a cycle a hand edit closed across the whole chain, and spells it', () => {
    const state = boardState(dir);
    state.tasks[id(1)].depends_on = [id(N + 1)];
    writeBoardState(dir, state);
    const r = json('doctor');
    expect(r.code).toBe(7);
    expect(r.json.error.code).toBe('BOARD_CORRUPT');
    const cycles = r.json.error.checks.find((c: { name: string }) => c.name === 'cycles');
    expect(cycles.ok).toBe(false);
    expect(cycles.message).toBe(`dependency cycle: t1 → ${id(N + 1)} → ${id(N)} → ${id(N - 1)} → ${id(N - 2)} → ${id(N - 3)} → … ${N + 2 - 12} more … → t6 → t5 → t4 → t3 → t2 → t1`);
  });
});
