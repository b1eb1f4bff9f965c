import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idFromTitle } from '../src/commands/import.js';
import { checkId, idLength, mintId } from '../src/rules/ids.js';
import { conflictMarkerLine, jsonErrorLine, lineOf, stableStringify } from '../src/rules/json.js';
import { StateSchema, TaskSchema } from '../src/rules/schema.js';
import { stateLooksValid, taskLooksValid, toStoredState } from '../src/rules/shape.js';
import { checkNoCycle, checkPaths, checkTitle, findCycles, moveTask, parsePriority, parseStatus, TRANSITIONS } from '../src/rules/taskmodel.js';
import { completeGoals } from '../src/rules/lifecycle.js';
import { boardView, rankTasks } from '../src/rules/rank.js';
import { IN_FLIGHT } from '../src/rules/vocabulary.js';
import { entryOf, indexFinder, type LazyTasks, mapView, type TaskFinder, wholeFinder } from '../src/rules/finder.js';
import { shardOf } from '../src/rules/layout.js';
import { type GraphLookup, measureRoot, type RootMeasures, updateRoots } from '../src/rules/readyroots.js';
import { pathsOverlap } from '../src/rules/ownedpaths.js';
import type { State, Task } from '../src/rules/types.js';
import { mdTable, mdText, mermaidLabel } from '../src/render/markdown.js';
import { mergeEvents, mergeStates } from '../src/rules/merge.js';
import { renderStatusMd } from '../src/render/status.js';
import { parseEventLog, readLiveTail } from '../src/store/eventlog.js';
import { firstChars } from '../src/store/resultfiles.js';
import { asShell, asShellInCode } from '../src/rules/shellword.js';
import { leaseConflict } from '../src/rules/leases.js';
import { hashToken } from '../src/rules/digest.js';
import { tempDir } from './helpers.js';
import { agentNamed, CONFIG, fakeTx, refusal, sessionOf, state, T0, task } from './inprocess.js';

describe('ids', () => {
  it.each([
    ['core-auth', 'core-auth'],
    ['Core-Auth', 'core-auth'],
    ['a', 'a'],
    ['t-7f3k', 't-7f3k'],
    ['v1.2_x', 'v1.2_x'],
    ['a'.repeat(64), 'a'.repeat(64)],
  ])('accepts %s as %s', (raw, id) => expect(checkId(raw)).toBe(id));

  it.each(['', '..', '../x', 'a/b', '-a', '.hidden', 'a b', 'a'.repeat(65), 'ä', 'a\nb', 'a\u0000'])('refuses %j', (raw) => {
    expect(() => checkId(raw)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it.each([
    [0, 4],
    [1, 5],
    [100, 7],
    [1000, 8],
    [10_000, 9],
  ])('idLength(%i) = %i', (n, len) => expect(idLength(n)).toBe(len));

  it('mints ids that match the id pattern and skip taken ones', () => {
    const taken = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = mintId('t', (x) => taken.has(x), taken.size);
      expect(checkId(id)).toBe(id);
      expect(taken.has(id)).toBe(false);
      taken.add(id);
    }
  });

  it.each([
    ['Fix the login bug!', 'fix-the-login-bug'],
    ['  Ünïcödé  title ', 'unicode-title'],
    ['a'.repeat(80), 'a'.repeat(48)],
  ])('derives a stable id from the title %j', (title, id) => expect(idFromTitle(title)).toBe(id));

  it('derives a hash id from a title with no latin letters', () => expect(idFromTitle('日本語のタイトル')).toMatch(/^t-[0-9a-f]{8}$/));
});

describe('parsing', () => {
  it.each([['P0', 0], ['p3', 3], ['2', 2], [1, 1]] as const)('priority %j → %i', (raw, p) => expect(parsePriority(raw)).toBe(p));
  it.each(['P4', 'high', '-1', '1.5', ''])('priority %j is refused', (raw) => expect(() => parsePriority(raw)).toThrow(/P0, P1, P2 or P3/));
  it.each([['in-progress', 'in_progress'], ['DONE', 'done']])('status %j → %s', (raw, s) => expect(parseStatus(raw)).toBe(s));
  it('unknown status is refused with the list', () => expect(() => parseStatus('doing')).toThrow(/todo, in_progress/));
  it('a huge title is refused with its length', () => expect(() => checkTitle('x'.repeat(100_000))).toThrow(/100000 characters; the limit is 300/));
  it.each(['../x', '/etc/passwd', 'a/../../b', 'C:/x'])('owned path %j is refused', (p) => expect(() => checkPaths([p])).toThrow(/relative/));
  it('owned paths are normalised', () => expect(checkPaths(['./src/**', 'a\\b'])).toEqual(['src/**', 'a/b']));
});

describe('json helpers', () => {
  it('stableStringify sorts keys at every level', () =>
    expect(stableStringify({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe(
      '{\n  "a": {\n    "c": null,\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n',
    ));
  it('lineOf counts lines and columns', () => expect(lineOf('ab\ncd\nef', 4)).toEqual({ line: 2, column: 2 }));
  it.each([
    ['{\n"a": 1,\n}', 3],
    ['{\n"a": 1\n"b": 2}', 3],
    ['{\n"a": ', 2],
  ])('jsonErrorLine finds the line of %j', (text, line) => {
    let err: unknown;
    try {
      JSON.parse(text);
    } catch (e) {
      err = e;
    }
    expect(jsonErrorLine(text, err)).toBe(line);
  });
  it('conflictMarkerLine finds the first marker', () => {
    expect(conflictMarkerLine('{\n<<<<<<< HEAD\n"a": 1\n=======\n"a": 2\n>>>>>>> other\n}')).toBe(2);
    expect(conflictMarkerLine('{"a": "<<<<<<< not at line start"}')).toBeNull();
  });
  it('the stored state has sorted keys everywhere', () => {
    const s = state([task('b'), task('a', { blocked: { reason: 'r', previous: 'todo', at: T0 } })]);
    const text = JSON.stringify(toStoredState(s, new Set(['a', 'b']), true), null, 2);
    expect(text).toBe(stableStringify(s).trimEnd());
  });
});

describe('transitions', () => {
  it('finished tasks go nowhere', () => {
    expect(TRANSITIONS.done).toEqual([]);
    expect(TRANSITIONS.cancelled).toEqual([]);
  });
  it('every status is reachable from todo, and every unfinished one can still end (done or cancelled)', () => {
    const reach = (from: string): Set<string> => {
      const seen = new Set([from]);
      const stack = [from];
      while (stack.length) for (const t of TRANSITIONS[stack.pop() as keyof typeof TRANSITIONS]) if (!seen.has(t)) (seen.add(t), stack.push(t));
      return seen;
    };
    expect([...reach('todo')].sort()).toEqual(Object.keys(TRANSITIONS).sort());
    for (const s of Object.keys(TRANSITIONS)) {
      const ends = reach(s);
      if (s !== 'done' && s !== 'cancelled') expect(ends.has('done') && ends.has('cancelled'), s).toBe(true);
    }
  });
});

describe('moveTask', () => {
  it('refuses every move the table does not list, changing and recording nothing', () => {
    for (const [from, allowed] of Object.entries(TRANSITIONS)) {
      for (const to of Object.keys(TRANSITIONS) as (keyof typeof TRANSITIONS)[]) {
        if (allowed.includes(to)) continue;
        const t = task('a', { status: from as Task['status'] });
        const tx = fakeTx(state([t]));
        let err: unknown;
        try {
          moveTask(tx, t, to, { type: 'task.moved' });
        } catch (e) {
          err = e;
        }
        expect(err, `${from} → ${to}`).toMatchObject({ code: 'INVALID_TRANSITION', details: { task: 'a', from, to } });
        expect([t.status, tx.events.length, tx.touched.length]).toEqual([from, 0, 0]);
      }
    }
  });
  it('makes a listed move, marks the task changed and records the event for it', () => {
    const t = task('a', { status: 'in_progress' });
    const tx = fakeTx(state([t]));
    moveTask(tx, t, 'review', { type: 'task.submitted', data: { notes: null } });
    expect(t.status).toBe('review');
    expect(tx.touched).toEqual(['a']);
    expect(tx.events).toEqual([{ type: 'task.submitted', data: { notes: null }, task: 'a' }]);
  });
  it('a goal completes through the table: from todo, not from blocked or review', () => {
    for (const [status, completes] of [['todo', true], ['waiting', true], ['blocked', false], ['review', false]] as const) {
      const goal = task('g', { kind: 'goal', status });
      const child = task('c', { parent: 'g', status: 'done' });
      const tx = fakeTx(state([goal, child]));
      completeGoals(tx, child);
      expect([status, goal.status]).toEqual([status, completes ? 'done' : status]);
      expect(tx.events.map((e) => e.type)).toEqual(completes ? ['goal.completed'] : []);
    }
  });
});

describe('dependency graph', () => {
  const s = state([task('a', { depends_on: ['b'] }), task('b', { depends_on: ['c'] }), task('c')]);
  it('refuses an edge that closes a cycle and spells it out', () => {
    expect(() => checkNoCycle(s, 'c', ['a'])).toThrow('That would make a dependency cycle: c → a → b → c.');
  });
  it('accepts an edge that closes no cycle', () => expect(() => checkNoCycle(s, 'a', ['b', 'c'])).not.toThrow());
  it('findCycles reports an existing cycle', () => {
    const cyclic = state([task('a', { depends_on: ['b'] }), task('b', { depends_on: ['a'] })]);
    expect(findCycles(cyclic)).toEqual([['a', 'b', 'a']]);
    expect(findCycles(s)).toEqual([]);
  });
});

const agent = (specialties: string[] = [], id = 'me') => ({ id, name: id, host: 'h', role: 'worker' as const, specialties, created_at: T0, last_seen_at: T0 });
const order = (s: State, opts: Partial<Parameters<typeof rankTasks>[2]> = {}) =>
  rankTasks(s, CONFIG, { agent: null, now: Date.parse(T0), pathsRefuse: true, ...opts }).ranked.map((c) => c.task.id);

describe('ranking', () => {
  it('priority first: P0 before P3', () => expect(order(state([task('low', { priority: 3 }), task('high', { priority: 0 })]))).toEqual(['high', 'low']));

  it('critical path weighted by estimate beats a longer list of small tasks', () => {
    const s = state([
      task('a'), task('b'),
      task('a1', { depends_on: ['a'], estimate: 8 }),
      task('b1', { depends_on: ['b'] }), task('b2', { depends_on: ['b1'] }),
    ]);
    // a: critical path 8, downstream 1 → 80 + 5; b: critical path 2, downstream 2 → 20 + 10
    const r = rankTasks(s, CONFIG, { agent: null, now: Date.parse(T0), pathsRefuse: true });
    expect(r.ranked.map((c) => [c.task.id, c.terms.critical_path, c.terms.downstream])).toEqual([['a', 80, 5], ['b', 20, 10]]);
  });

  it('downstream pressure: the task more work waits on goes first', () => {
    const s = state([task('x'), task('y'), task('x1', { depends_on: ['x'] }), task('y1', { depends_on: ['y'] }), task('y2', { depends_on: ['y'] })]);
    expect(order(s)).toEqual(['y', 'x']);
  });

  it('finished work no longer counts downstream', () => {
    const s = state([task('x'), task('y'), task('x1', { depends_on: ['x'], status: 'cancelled' }), task('y1', { depends_on: ['y'] })]);
    expect(order(s)).toEqual(['y', 'x']);
  });

  it('specialty: a specialist takes its own and unspecialised tasks; a generalist takes all', () => {
    const s = state([task('docs', { specialty: 'docs', priority: 0 }), task('any', { priority: 3 })]);
    expect(order(s, { agent: agent(['web']) })).toEqual(['any']);
    expect(order(s, { agent: agent() })).toEqual(['docs', 'any']);
    expect(order(s, { agent: agent(['docs']) })).toEqual(['docs', 'any']);
    expect(order(s, { agent: agent(['docs']), specialty: 'docs' })).toEqual(['docs']);
  });

  it('path conflicts with work in flight skip a task (or not, when the profile only warns)', () => {
    const s = state([
      task('held', { status: 'in_progress', assignee: 'other', owned_paths: ['src/api/**'] }),
      task('clash', { owned_paths: ['src/api/users.ts'], priority: 0 }),
      task('free', { owned_paths: ['docs/**'], priority: 3 }),
    ]);
    const r = rankTasks(s, CONFIG, { agent: agent(), now: Date.parse(T0), pathsRefuse: true });
    expect(r.ranked.map((c) => c.task.id)).toEqual(['free']);
    expect(r.skipped.find((x) => x.task === 'clash')?.reason).toMatch(/overlap src\/api\/\*\* of held/);
    expect(order(s, { agent: agent(), pathsRefuse: false })).toEqual(['clash', 'free']);
    // My own work in flight never blocks me.
    expect(order(s, { agent: agent([], 'other') })).toEqual(['clash', 'free']);
  });

  it('age counts up by the day', () => {
    const s = state([task('new', { created_at: '2026-01-10T00:00:00.000Z' }), task('old')]);
    const r = rankTasks(s, CONFIG, { agent: null, now: Date.parse('2026-01-11T00:00:00.000Z'), pathsRefuse: true });
    expect(r.ranked.map((c) => [c.task.id, c.terms.age])).toEqual([['old', 10], ['new', 1]]);
  });

  it('ties go by creation order, then id; unready tasks are skipped with a reason', () => {
    const s = state([
      task('late', { created_at: '2026-01-02T00:00:00.000Z' }),
      task('b-tie'),
      task('a-tie'),
      task('urgent', { priority: 0, depends_on: ['gone'] }),
      task('gone', { status: 'cancelled' }),
      task('waits', { priority: 0, depends_on: ['late'] }),
      task('goal', { kind: 'goal', priority: 0 }),
    ]);
    const r = rankTasks(s, CONFIG, { agent: null, now: Date.parse('2026-01-02T00:00:00.000Z'), pathsRefuse: true });
    expect(r.ranked.map((c) => c.task.id)).toEqual(['urgent', 'late', 'a-tie', 'b-tie']);
    expect(r.skipped).toEqual([
      { task: 'goal', reason: 'a goal, never claimed' },
      { task: 'waits', reason: 'waits for late (todo)' },
    ]);
  });

  it('a 10,000-task dependency chain ranks without overflowing the stack', () => {
    const chain = Array.from({ length: 10_000 }, (_, i) => task(`c${i}`, { depends_on: i ? [`c${i - 1}`] : [] }));
    const r = rankTasks(state(chain), CONFIG, { agent: null, now: Date.parse(T0), pathsRefuse: true });
    expect(r.ranked[0]?.terms.critical_path).toBe(10 * 9_999);
  });
});

describe('ready roots kept up to date from what a change touched (rules/readyroots.ts)', () => {
  /** The graph of a state, as the board index will keep it: each task, and who names an id in depends_on. */
  const lookup = (s: State): GraphLookup => {
    const named = new Map<string, string[]>();
    for (const t of Object.values(s.tasks)) for (const d of t.depends_on) named.set(d, [...(named.get(d) ?? []), t.id]);
    return { entry: (id) => s.tasks[id], dependents: (id) => named.get(id) ?? [] };
  };
  /** The whole board's answer (rank.ts). */
  const whole = (s: State) => {
    const v = boardView(s);
    return new Map(v.depReady.map((i) => [v.all[i]!.id, { critical: v.critical[i]!, downstream: v.downstream.get(i)! }]));
  };
  const sorted = (m: Map<string, RootMeasures>) => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));

  /** A small deterministic generator (mulberry32), so a failure names its seed. */
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const STATUS_MIX: Task['status'][] = ['todo', 'todo', 'todo', 'todo', 'in_progress', 'done', 'done', 'cancelled', 'blocked', 'review', 'waiting'];

  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('seed %i: 30 random changes, each updated from the roots before it, equal the whole board ranked again', (seed) => {
    const rnd = random(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    // Ids in creation order; a task depends only on earlier ones (or on an id no task has yet), so the graph stays acyclic.
    const order: string[] = [];
    const depsFor = (upTo: number) => Array.from({ length: Math.floor(rnd() * 4) }, () => (rnd() < 0.1 ? `gone-${Math.floor(rnd() * 5)}` : order[Math.floor(rnd() * upTo)])).filter((d): d is string => d !== undefined);
    const make = (id: string) => {
      const t = task(id, { status: pick(STATUS_MIX), kind: rnd() < 0.1 ? pick(['goal', 'gate'] as const) : 'task', depends_on: depsFor(order.length), estimate: 1 + Math.floor(rnd() * 5) });
      order.push(id);
      return t;
    };
    let s = state(Array.from({ length: 5 + Math.floor(rnd() * 30) }, (_, i) => make(`t${i}`)));
    let roots = whole(s);
    for (let step = 0; step < 30; step++) {
      const next = structuredClone(s);
      const changed = new Set<string>();
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
        const live = order.filter((id) => next.tasks[id]);
        const id = pick(live);
        const t = next.tasks[id]!;
        const what = rnd();
        if (what < 0.35) t.status = pick(STATUS_MIX);
        else if (what < 0.55) t.depends_on = id.startsWith('gone-') ? [] : depsFor(order.indexOf(id));
        else if (what < 0.65) t.estimate = 1 + Math.floor(rnd() * 5);
        else if (what < 0.8) {
          // A new task, sometimes taking an id that others already depend on.
          const fresh = rnd() < 0.3 ? `gone-${Math.floor(rnd() * 5)}` : `n${step}-${k}`;
          if (next.tasks[fresh]) continue;
          next.tasks[fresh] = make(fresh);
          // Tasks made earlier may depend on a gone- id: depending on nothing, it closes no cycle.
          if (fresh.startsWith('gone-')) next.tasks[fresh]!.depends_on = [];
          changed.add(fresh);
          continue;
        } else if (t.status === 'done' || t.status === 'cancelled') delete next.tasks[id];
        else t.kind = t.kind === 'task' ? 'goal' : 'task';
        changed.add(id);
      }
      const updated = updateRoots(lookup(s), lookup(next), roots, changed);
      expect(boardView(next).cyclic, `seed ${seed}, step ${step}`).toBe(false);
      expect(updated, `seed ${seed}, step ${step}`).not.toBeNull();
      expect(sorted(updated!), `seed ${seed}, step ${step}`).toEqual(sorted(whole(next)));
      s = next;
      roots = updated!;
    }
  });

  it('a whole ranking that met a cycle says so: its measures hang on the order it walked the roots in, which no update follows', () => {
    // a and b both reach the cycle x <-> y; which of them walked into it first decides b's measure.
    const s = state([task('a'), task('b'), task('x', { depends_on: ['a', 'y'] }), task('y', { depends_on: ['b', 'x'] })]);
    expect(boardView(s).cyclic).toBe(true);
    const after = structuredClone(s);
    after.tasks.a!.status = 'in_progress';
    expect(whole(after).get('b')).not.toEqual(whole(s).get('b'));
    expect(boardView(after).cyclic).toBe(true);
    expect(boardView(state([task('a'), task('x', { depends_on: ['a'] })])).cyclic).toBe(false);
  });

  it('a root that reaches a cycle is left to the whole board (null), and one that does not is measured', () => {
    const s = state([task('r'), task('a', { depends_on: ['r', 'b'] }), task('b', { depends_on: ['a'] }), task('free'), task('f1', { depends_on: ['free'], estimate: 3 })]);
    expect(measureRoot(lookup(s), 'r')).toBeNull();
    expect(measureRoot(lookup(s), 'free')).toEqual({ critical: 3, downstream: 1 });
    expect(updateRoots(lookup(s), lookup(s), new Map(), ['b'])).toBeNull();
    expect(updateRoots(lookup(s), lookup(s), new Map(), ['f1'])).toEqual(new Map([['free', { critical: 3, downstream: 1 }]]));
  });

  it('a 10,000-task chain is measured without overflowing the stack', () => {
    const s = state(Array.from({ length: 10_000 }, (_, i) => task(`c${i}`, { depends_on: i ? [`c${i - 1}`] : [] })));
    expect(measureRoot(lookup(s), 'c0')).toEqual({ critical: 9_999, downstream: 9_999 });
  });
});

describe('the finder (rules/finder.ts): the board index answers what the whole board does', () => {
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const STATUSES: Task['status'][] = ['todo', 'in_progress', 'review', 'in_review', 'changes_requested', 'handoff', 'done', 'cancelled', 'blocked', 'waiting'];
  const at = (h: number) => new Date(Date.parse(T0) + h * 3_600_000).toISOString();

  it.each(Array.from({ length: 30 }, (_, i) => i + 1))('seed %i: after random changes to the shards a transaction read, every question gets every task the whole board gives', (seed) => {
    const rnd = random(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const ids = Array.from({ length: 40 }, (_, i) => `t${i}`);
    const randomTask = (id: string): Task => {
      const status = pick(STATUSES);
      const leased = rnd() < 0.4;
      return task(id, {
        status,
        parent: rnd() < 0.3 ? pick(ids) : null,
        depends_on: Array.from({ length: Math.floor(rnd() * 3) }, () => (rnd() < 0.1 ? 'gone' : pick(ids))),
        owned_paths: rnd() < 0.4 ? ['src/**'] : [],
        assignee: rnd() < 0.6 ? pick(['a', 'b']) : null,
        reviewer: rnd() < 0.3 ? pick(['a', 'b']) : null,
        lease: leased ? { session: pick(['s1', 's2']), expires_at: at(Math.floor(rnd() * 10)), heartbeat_at: T0, token_hash: 'x' } : null,
        updated_at: at(Math.floor(rnd() * 10)),
      });
    };
    const before = state(ids.filter(() => rnd() < 0.8).map(randomTask));
    const entries = new Map(Object.values(before.tasks).map((t) => [t.id, entryOf(t)]));
    const now = structuredClone(before);
    const read = new Set<string>();
    const lazy: LazyTasks = {
      loaded: () => Object.values(now.tasks).filter((t) => read.has(shardOf(t.id))).sort((x, y) => (x.id < y.id ? -1 : 1)),
      isLoaded: (id) => read.has(shardOf(id)),
      get: (id) => {
        read.add(shardOf(id));
        return now.tasks[id];
      },
      countDelta: () => Object.keys(now.tasks).length - Object.keys(before.tasks).length,
    };
    const found = indexFinder(mapView(entries), lazy);
    const whole = wholeFinder(now);
    const check = (what: string, q: (f: TaskFinder) => Iterable<Task>, keep: (t: Task) => boolean) => {
      const want = [...q(whole)].filter(keep).map((t) => t.id).sort();
      const got = [...new Set([...q(found)].filter(keep).map((t) => t.id))].sort();
      expect(got, what).toEqual(want);
    };
    for (let step = 0; step < 12; step++) {
      // Change, add or remove a few tasks: a transaction reads a task's shard before it changes one.
      for (let k = 0; k < 3; k++) {
        const id = pick([...ids, `n${step}-${k}`]);
        lazy.get(id);
        if (rnd() < 0.2) delete now.tasks[id];
        else now.tasks[id] = randomTask(id);
      }
      if (rnd() < 0.5) lazy.get(pick(ids)); // a shard read without a change
      const by = Date.parse(at(Math.floor(rnd() * 10)));
      check('leased', (f) => f.leased(by), (t) => t.lease !== null && Date.parse(t.lease.expires_at) <= by);
      check('leased, any', (f) => f.leased(), (t) => t.lease !== null);
      for (const sid of ['s1', 's2']) check(`leasedBy ${sid}`, (f) => f.leasedBy(sid), (t) => t.lease?.session === sid);
      for (const agent of ['a', 'b']) check(`inProgressBy ${agent}`, (f) => f.inProgressBy(agent), (t) => t.status === 'in_progress' && t.assignee === agent);
      check('holdingPaths', (f) => f.holdingPaths(), (t) => IN_FLIGHT.has(t.status) && t.owned_paths.length > 0);
      check('finishedBy', (f) => f.finishedBy(by), (t) => (t.status === 'done' || t.status === 'cancelled') && Date.parse(t.updated_at) <= by);
      for (const id of [...ids, 'gone']) {
        check(`dependents ${id}`, (f) => f.dependents(id), (t) => t.depends_on.includes(id));
        check(`children ${id}`, (f) => f.children(id), (t) => t.parent === id);
        expect(found.status(id), `status ${id}`).toBe(whole.status(id));
      }
      expect(found.count()).toBe(whole.count());
    }
  });
});

describe('path overlap', () => {
  it.each([
    ['src/api/**', 'src/api/users.ts', true],
    ['src/api/**', 'src/**/*.ts', true],
    ['src/api', 'src/api/users.ts', true],
    ['src/api/users.ts', 'src/api/users.ts', true],
    ['src/*.ts', 'src/lib/**', true],
    ['**', 'anything/at/all', true],
    ['src/api/**', 'src/web/**', false],
    ['docs/**', 'src/api/users.ts', false],
    ['src/api/users.ts', 'src/api/orders.ts', false],
    ['src/api/*.ts', 'src/api/readme.md', false],
    ['src/apiary/**', 'src/api/**', false],
  ])('%s vs %s → %s', (a, b, hit) => {
    expect(pathsOverlap(a, b)).toBe(hit);
    expect(pathsOverlap(b, a)).toBe(hit);
  });
});

describe('markdown escaping', () => {
  it.each([
    ['a | b', 'a \\| b'],
    ['line\nbreak', 'line break'],
    ['<script>x</script>', '&lt;script&gt;x&lt;/script&gt;'],
    ['`code` [l](x)', '\\`code\\` \\[l\\]\\(x\\)'],
    ['*bold* _it_', '\\*bold\\* \\_it\\_'],
    ['café 🚀 עברית', 'café 🚀 עברית'],
  ])('mdText(%j) = %j', (raw, out) => expect(mdText(raw)).toBe(out));

  it('keeps a table rectangular whatever the cell text', () => {
    const table = mdTable(['a', 'b'], [[mdText('x | y\n| z'), mdText('`|`')]]);
    for (const line of table.split('\n')) expect(line.match(/(?<!\\)\|/g)).toHaveLength(3);
  });

  it('mermaid labels carry no quote, bracket or angle bracket', () => {
    expect(mermaidLabel('a "b" <c> [d] (e) {f} |g| `h` #i')).not.toMatch(/["<>[\](){}|`]/);
  });

  it('STATUS.md is a pure function of the state', () => {
    const s = state([task('a', { title: 'x | <y>' }), task('b', { depends_on: ['a'] })]);
    const config = CONFIG;
    expect(renderStatusMd(s, config)).toBe(renderStatusMd(structuredClone(s), config));
    expect(renderStatusMd(s, config)).toContain('x \\| &lt;y&gt;');
  });
});

describe('fast shape check agrees with the zod schema', () => {
  const base = task('fuzz', {
    lease: { session: 's-1', expires_at: T0, heartbeat_at: T0, token_hash: 'h' },
    gate: { type: 'ci', match: { pr: '42' } },
    blocked: { reason: 'r', previous: 'todo', at: T0 },
    notes: [{ at: T0, author: null, text: 'n' }],
    depends_on: ['x'],
    labels: ['l'],
  });
  const wrong: unknown[] = [undefined, null, 0, -1, 1.5, 4, '', 'BAD ID', 'x', [], ['BAD ID'], [1], {}, { a: 1 }, true];

  it('a valid task passes both', () => {
    expect(taskLooksValid(base)).toBe(true);
    expect(TaskSchema.safeParse(base).success).toBe(true);
  });

  it('never accepts a task zod rejects (each field, each wrong value, and nested fields)', () => {
    let rejected = 0;
    const variants: unknown[] = [];
    for (const key of Object.keys(base)) {
      for (const v of wrong) {
        const t: Record<string, unknown> = structuredClone(base);
        if (v === undefined) delete t[key];
        else t[key] = v;
        variants.push(t);
      }
    }
    for (const nested of ['lease', 'gate', 'blocked'] as const) {
      for (const key of Object.keys(base[nested]!)) {
        for (const v of wrong) {
          const t = structuredClone(base) as Record<string, any>;
          if (v === undefined) delete t[nested][key];
          else t[nested][key] = v;
          variants.push(t);
        }
      }
    }
    for (const key of ['at', 'author', 'text']) {
      for (const v of wrong) {
        const t = structuredClone(base) as Record<string, any>;
        t.notes[0][key] = v;
        variants.push(t);
      }
    }
    for (const t of variants) {
      const zodOk = TaskSchema.safeParse(t).success;
      if (!zodOk) rejected++;
      if (taskLooksValid(t)) expect(zodOk, JSON.stringify(t)).toBe(true);
    }
    expect(rejected).toBeGreaterThan(300);
  });

  it('never accepts a state zod rejects', () => {
    const good = state([base]);
    expect(stateLooksValid(structuredClone(good))).toBe(true);
    for (const key of Object.keys(good)) {
      for (const v of wrong) {
        const s: Record<string, unknown> = structuredClone(good);
        if (v === undefined) delete s[key];
        else s[key] = v;
        if (stateLooksValid(s)) expect(StateSchema.safeParse(s).success, `${key}=${JSON.stringify(v)}`).toBe(true);
      }
    }
  });
});

describe('board merge', () => {
  const base = state([task('a'), task('b'), task('c')]);
  const ours = structuredClone(base);
  ours.tasks.a!.title = 'a on ours';
  ours.tasks.a!.rev = 2;
  ours.tasks.b!.status = 'blocked';
  ours.tasks.b!.blocked = { reason: 'r', previous: 'todo', at: T0 };
  ours.tasks.b!.rev = 3;
  ours.tasks.n1 = task('n1', { rev: 2 });
  ours.revision = 3;
  ours.seq = 3;
  const theirs = structuredClone(base);
  theirs.tasks.a!.labels = ['theirs'];
  theirs.tasks.a!.rev = 2;
  theirs.tasks.a!.notes = [{ at: T0, author: 'x', text: 'note' }];
  theirs.tasks.c!.priority = 0;
  theirs.tasks.c!.rev = 2;
  theirs.revision = 2;
  theirs.seq = 2;

  it('combines changes to different tasks and to different field groups of one task, symmetrically', () => {
    const m = mergeStates(base, ours, theirs);
    expect(m.conflicts).toEqual([]);
    expect(m.state.tasks.a).toMatchObject({ title: 'a on ours', labels: ['theirs'], notes: [{ text: 'note' }] });
    expect(m.state.tasks.b!.status).toBe('blocked');
    expect(m.state.tasks.c!.priority).toBe(0);
    expect(m.state.tasks.n1).toBeDefined();
    expect(m.state.revision).toBe(4);
    expect(m.state.seq).toBe(1 + 2 + 1 + 1);
    expect(stableStringify(mergeStates(base, theirs, ours).state)).toBe(stableStringify(m.state));
  });

  it('refuses to guess when both sides moved one task\'s status', () => {
    const t2 = structuredClone(theirs);
    t2.tasks.b!.status = 'cancelled';
    t2.tasks.b!.rev = 2;
    expect(mergeStates(base, ours, t2).conflicts).toEqual([{ task: 'b', field: 'status', ours: 'blocked', theirs: 'cancelled', kept: 'ours' }]);
  });

  it('unions event logs by id: ours keep their seq, the other side\'s new ones follow in its order, board.merged closes', () => {
    const ev = (id: string, seq: number, ts: string, revision = seq) => ({ id, seq, ts, revision, type: 't', actor: null, session: null, task: null, data: {}, notify: null });
    const b0 = [ev('e1', 1, '2026-01-01T00:00:01Z')];
    const o = [...b0, ev('o1', 2, '2026-01-01T00:00:03Z'), ev('o2', 3, '2026-01-01T00:00:05Z')];
    const t = [...b0, ev('t1', 2, '2026-01-01T00:00:04Z'), ev('t2', 3, '2026-01-01T00:00:02Z')];
    const m = mergeEvents(b0, o, t);
    expect(m.map((e) => [e.id, e.seq])).toEqual([['e1', 1], ['o1', 2], ['o2', 3], ['t1', 4], ['t2', 5], [m[5]!.id, 6]]);
    expect(m[5]).toMatchObject({ type: 'board.merged', revision: 4 });
    // The other direction keeps its own order: each working tree's log only ever grows.
    expect(mergeEvents(b0, t, o).map((e) => e.id).slice(0, 5)).toEqual(['e1', 't1', 't2', 'o1', 'o2']);
    // A rebase's replay: ours already holds the replayed events under other numbers; none twice.
    const replay = mergeEvents(t, m, [...t, ev('t3', 4, '2026-01-01T00:00:06Z')]);
    expect(replay.map((e) => e.seq)).toEqual(replay.map((_, i) => i + 1));
    expect(new Set(replay.map((e) => e.id)).size).toBe(replay.length);
    expect(replay.filter((e) => e.id === 't3')).toHaveLength(1);
    // A revert's merge (the other side lacks events we have) deletes nothing.
    const revert = mergeEvents(o, o, b0);
    expect(revert.map((e) => e.id).slice(0, 3)).toEqual(['e1', 'o1', 'o2']);
  });

  it('ids minted on two branches of 10,000 tasks each never collide', () => {
    const side = () => {
      const taken = new Set<string>();
      for (let i = 0; i < 10_000; i++) taken.add(mintId('t', (x) => taken.has(x), taken.size));
      return taken;
    };
    const one = side();
    const two = side();
    expect([...one].filter((id) => two.has(id))).toEqual([]);
  });
});

describe('event log', () => {
  const line = (seq: number, text = 'x') => JSON.stringify({ id: `e${seq}`, seq, ts: T0, revision: seq, type: 'message.sent', actor: null, session: null, task: null, data: { text }, notify: null });
  const lineOfError = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return [(e as { code?: string }).code, (e as { details?: { line?: number } }).details?.line];
    }
    return null;
  };

  it('one parser: a line that is not an event is BOARD_CORRUPT at its line, unless the caller takes markers, torn tails or bad lines', () => {
    const log = (bad: string, tail = '') => `${line(1)}\n${bad}\n${line(3)}\n${tail}`;
    for (const bad of ['null', '42', '{"seq":2}', '{"id":"e2"}', '{"seq":2,"id":"e2"', '<<<<<<< HEAD', 'garbage']) {
      expect(lineOfError(() => parseEventLog(log(bad), 'events.jsonl')), bad).toEqual(['BOARD_CORRUPT', 2]);
    }
    const p = parseEventLog(log('=======', '{"seq":4,"id":"e4",'), 'events.jsonl', { live: true, markers: true });
    expect([p.events.map((e) => e.seq), p.markers, p.torn, p.tornBytes]).toEqual([[1, 3], 1, { line: 4, text: '{"seq":4,"id":"e4",' }, 19]);
    // Only the live log's last line may be torn; elsewhere the same bytes are unreadable.
    expect(lineOfError(() => parseEventLog(log('=======', 'torn'), 'archive', { markers: true }))).toEqual(['BOARD_CORRUPT', 4]);
    const bad: { file: string; line: number; text: string }[] = [];
    expect(parseEventLog(log('garbage'), 'f', { bad }).events.map((e) => e.seq)).toEqual([1, 3]);
    expect(bad).toEqual([{ file: 'f', line: 2, text: 'garbage' }]);
  });

  it('the tail reader keeps characters cut by its chunk edges whole, skips a torn last line and names the line of a broken one', () => {
    const dir = tempDir();
    // 2-byte characters and lines of odd length: the 256 KB chunk edges fall inside characters.
    const lines = Array.from({ length: 3000 }, (_, i) => line(i + 1, `${'é'.repeat(150)}${i % 2 ? 'a' : ''}`));
    writeFileSync(join(dir, 'events.jsonl'), `${lines.join('\n')}\n{"seq":3001,"id":"torn`);
    const read = readLiveTail(dir, 3001, 0, () => true);
    expect(read.map((e) => e.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(read.filter((e) => e.data.text !== `${'é'.repeat(150)}${(e.seq - 1) % 2 ? 'a' : ''}`)).toEqual([]);
    for (const at of [5, 1500, 2999]) {
      writeFileSync(join(dir, 'events.jsonl'), `${lines.map((l, i) => (i === at - 1 ? l.slice(0, 40) : l)).join('\n')}\n`);
      expect(lineOfError(() => readLiveTail(dir, 3000, 0, () => true)), String(at)).toEqual(['BOARD_CORRUPT', at]);
    }
  });
});

describe('firstChars (result summaries and result --max-chars)', () => {
  it('cuts at code points, never inside an emoji, and says whether there was more even when every character is two UTF-16 units', () => {
    expect(firstChars('abc', 3)).toEqual({ text: 'abc', cut: false });
    expect(firstChars('abcd', 3)).toEqual({ text: 'abc', cut: true });
    expect(firstChars('😀😀', 1)).toEqual({ text: '😀', cut: true });
    expect(firstChars('😀😀😀', 3)).toEqual({ text: '😀😀😀', cut: false });
    expect(firstChars(`${'😀'.repeat(300)}x`, 300)).toEqual({ text: '😀'.repeat(300), cut: true });
    expect(firstChars('', 0)).toEqual({ text: '', cut: false });
    expect(firstChars('a', 0)).toEqual({ text: '', cut: true });
  });
});

describe('commands as the agent\'s shell runs them', () => {
  const cases: [string, string][] = [
    ['baton next', 'npx baton next'],
    ['Loop: 1. baton next  2. baton claim ID', 'Loop: 1. npx baton next  2. npx baton claim ID'],
    ['eval "$(baton join --name N --export)"', 'eval "$(npx baton join --name N --export)"'],
    ['(`baton mcp config --client claude`)', '(`npx baton mcp config --client claude`)'],
    ['baton: you are w1', 'baton: you are w1'],
    ['With the baton MCP server connected', 'With the baton MCP server connected'],
    ['through the `baton` command', 'through the `baton` command'],
    ['with baton (the board is x)', 'with baton (the board is x)'],
  ];
  it.each(cases)('%s', (text, want) => {
    expect(asShell(text, 'npx baton')).toBe(want);
    expect(asShell(text, 'baton')).toBe(text);
  });
  it('in Markdown, only code: prose stays as written', () => {
    const md = 'You never review your own work; baton refuses it.\n\n```sh\nbaton next --json\n```\n- then `baton done ID`';
    expect(asShellInCode(md, 'npx baton')).toBe('You never review your own work; baton refuses it.\n\n```sh\nnpx baton next --json\n```\n- then `npx baton done ID`');
  });
});

describe('leaseConflict (rules/leases.ts): who may finish, release or renew a task, in-process', () => {
  const NOW = Date.parse('2026-01-01T00:10:00.000Z');
  const lease = (s: string, expires: string) => ({ expires_at: expires, heartbeat_at: T0, session: s, token_hash: hashToken('lease-token') });
  const board = (t: Task) => {
    const s = state([t]);
    s.agents = { w: agentNamed('w'), v: agentNamed('v') };
    s.sessions = { 's-1': sessionOf('s-1', 'w'), 's-2': sessionOf('s-2', 'w'), 's-3': sessionOf('s-3', 'v') };
    return s;
  };
  const me = (s: State, id: string) => ({ session: s.sessions[id]!, agentId: s.sessions[id]!.agent });
  const none = () => [];

  it.each([
    ['the holder, lease live', 's-1', 'in_progress', lease('s-1', '2026-01-01T00:20:00.000Z'), undefined, null],
    ['nobody holds it', 's-1', 'todo', null, undefined, { code: 'LEASE_CONFLICT', message: "You don't hold t1 (it is todo).", hint: 'baton show t1' }],
    ['another agent holds it', 's-1', 'in_progress', lease('s-3', '2026-01-01T00:20:00.000Z'), undefined, { code: 'LEASE_CONFLICT', message: 'Task t1 is held by v (session s-3), not by you.', hint: 'baton show t1' }],
    ["the agent's earlier session holds it", 's-2', 'in_progress', lease('s-1', '2026-01-01T00:20:00.000Z'), undefined, { code: 'LEASE_CONFLICT', message: 'Task t1 is held by your earlier session s-1, not by this one (s-2); take that session\'s work over with baton join --name w --resume.', hint: 'baton join --name w --resume' }],
    ['a lease token of an earlier claim', 's-1', 'in_progress', lease('s-1', '2026-01-01T00:20:00.000Z'), 'old-token', { code: 'LEASE_CONFLICT', message: 'That lease token is not the current one for t1: it was re-claimed since you got it.', hint: 'baton show t1' }],
    ['its own lease, lapsed', 's-1', 'in_progress', lease('s-1', '2026-01-01T00:05:00.000Z'), undefined, { code: 'LEASE_CONFLICT', message: 'Your lease on t1 expired at 2026-01-01T00:05:00.000Z; nobody has taken it yet, so claim it again.', hint: 'baton claim t1' }],
  ] as const)('%s', (_name, caller, status, l, token, expected) => {
    const s = board(task('t1', { status, lease: l ? { ...l } : null }));
    expect(refusal(() => leaseConflict(none, s, s.tasks.t1!, me(s, caller), token, NOW))).toEqual(expected);
  });

  it('tells from the log what became of a lease it lost, and reads the log only then', () => {
    const s = board(task('t1', { status: 'in_progress', lease: lease('s-3', '2026-01-01T00:20:00.000Z') }));
    let reads = 0;
    const history = () => {
      reads += 1;
      return [{ id: 'e-1', seq: 1, ts: '2026-01-01T00:06:00.000Z', type: 'lease.expired', task: 't1', actor: null, session: null, revision: 1, data: { previous_session: 's-1', expired_at: '2026-01-01T00:05:00.000Z' }, notify: null }];
    };
    expect(refusal(() => leaseConflict(history, s, s.tasks.t1!, me(s, 's-1'), undefined, NOW))?.message).toBe(
      'You no longer hold t1: your lease expired at 2026-01-01T00:05:00.000Z and was taken back at 2026-01-01T00:06:00.000Z; it is now held by v (session s-3) since 2026-01-01T00:00:00.000Z.',
    );
    expect(reads).toBe(1);
    leaseConflict(history, s, s.tasks.t1!, me(s, 's-3'), undefined, NOW);
    expect(reads).toBe(1);
  });
});
