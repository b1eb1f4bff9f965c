import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shardOf } from '../src/rules/layout.js';
import { BIN, baseEnv, baton, batonIn, hashTree, makeBoardIn, readJsonl, tempDir, type Run, type TestBoardIn, boardState } from './helpers.js';

/** End-to-end tests (in-process, bar stdin and the TTY): the board, task and import commands (SPEC §2, §3, §6, §7). */

const TASK_FIELDS = [
  'id', 'title', 'description', 'kind', 'status', 'priority', 'specialty', 'depends_on',
  'candidate_depends_on', 'owned_paths', 'candidate_owned_paths', 'estimate', 'labels', 'parent',
  'assignee', 'reviewer', 'lease', 'review_required', 'gate', 'notes', 'created_at', 'updated_at', 'rev',
];

const GENERATED_MD = ['STATUS.md', 'AGENTS.md', 'SESSIONS.md', 'HANDOFFS.md', 'NOTIFICATIONS.md'];
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Runs baton in-process and checks the one rule every output obeys: internal fields never leak. */
async function call(cwd: string, args: string[], opts: { env?: Record<string, string> } = {}): Promise<Run> {
  const r = await batonIn(args, { cwd, ...opts });
  expect(r.stdout + r.stderr).not.toContain('token_hash');
  return r;
}

/** As call, as a process of its own: `import -` reads its stdin (fd 0). */
function callStdin(cwd: string, args: string[], input: string): Run {
  const r = baton(args, { cwd, input });
  expect(r.stdout + r.stderr).not.toContain('token_hash');
  return r;
}

/** `--json` call on a board; fails unless stdout is exactly one JSON line. */
async function j(b: TestBoardIn, ...args: string[]): Promise<Run> {
  const r = await call(b.root, [...args, '--json']);
  expect(r.json, `not JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`).not.toBeNull();
  expect(r.stdout.trimEnd().split('\n')).toHaveLength(1);
  return r;
}

/** A successful --json mutation that moved the revision to `revision`. */
function ok(r: Run, revision?: number): any {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.json.ok).toBe(true);
  if (revision !== undefined) expect(r.json.revision).toBe(revision);
  return r.json;
}

/** A --json failure with this exit code and error code, and a one-line message. */
function fails(r: Run, exit: number, code: string | string[]): any {
  expect(r.json, `stdout: ${r.stdout} stderr: ${r.stderr}`).not.toBeNull();
  expect(r.json.ok).toBe(false);
  expect([code].flat()).toContain(r.json.error.code);
  expect(r.code).toBe(exit);
  expect(typeof r.json.error.message).toBe('string');
  expect(r.json.error.message).not.toContain('\n');
  expect(r.json.error.message.length).toBeGreaterThan(0);
  return r.json.error;
}

/** A human-mode failure: nothing on stdout, `error: …` (+ optional `  next: …`) on stderr, no stack. */
function failsHuman(r: Run, exit: number): string {
  expect(r.code).toBe(exit);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^error: \S/);
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines.length === 2) expect(lines[1]).toMatch(/^ {2}next: \S/);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/Error:|node:internal/);
  return r.stderr;
}

function expectTaskShape(t: any) {
  for (const f of TASK_FIELDS) expect(t, `field ${f}`).toHaveProperty(f);
  for (const [k, v] of Object.entries(t)) expect(v, `field ${k}`).not.toBeUndefined();
  for (const f of ['depends_on', 'candidate_depends_on', 'owned_paths', 'candidate_owned_paths', 'labels', 'notes']) {
    expect(Array.isArray(t[f]), `field ${f} is an array`).toBe(true);
  }
  expect(t.created_at).toMatch(ISO_UTC);
  expect(t.updated_at).toMatch(ISO_UTC);
  expect(typeof t.rev).toBe('number');
  expect(typeof t.estimate).toBe('number');
  expect([0, 1, 2, 3]).toContain(t.priority);
}

/** Number of GFM cell separators: `|` preceded by an even number of backslashes. */
function cellSeparators(line: string): number {
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] !== '|') continue;
    let bs = 0;
    for (let k = i - 1; k >= 0 && line[k] === '\\'; k--) bs++;
    if (bs % 2 === 0) n++;
  }
  return n;
}

/** The table lines (header, delimiter, rows) of a `## heading` section. */
function tableOf(md: string, heading: string): string[] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  expect(start, `section ${heading}`).toBeGreaterThanOrEqual(0);
  let i = start + 1;
  while (i < lines.length && !lines[i].startsWith('|') && !lines[i].startsWith('## ')) i++;
  const out: string[] = [];
  while (i < lines.length && lines[i].startsWith('|')) out.push(lines[i++]);
  return out;
}

function ids(r: Run): string[] {
  return r.json.tasks.map((t: any) => t.id);
}

function sortKeysDeep(v: any): any {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeysDeep(v[k])]));
  }
  return v;
}

function git(cwd: string, ...args: string[]) {
  const env = { ...process.env } as Record<string, string>;
  for (const k of Object.keys(env)) if (k.startsWith('GIT_')) delete env[k];
  execFileSync('git', ['-c', 'user.name=baton-test', '-c', 'user.email=test@example.invalid', ...args], {
    cwd,
    env,
    stdio: 'pipe',
  });
}

describe('init', () => {
  it('creates every file, generated Markdown says how to regenerate, revision 0 and an empty log', async () => {
    const b = await makeBoardIn();
    const files = ['config.yaml', 'state.json', 'events.jsonl', '.gitignore', 'handoff-index.json', ...GENERATED_MD];
    for (const f of files) expect(existsSync(join(b.dir, f)), f).toBe(true);
    for (const f of GENERATED_MD) {
      const first = readFileSync(join(b.dir, f), 'utf8').split('\n')[0];
      expect(first, f).toMatch(/^<!--.*-->$/);
      expect(first, f).toMatch(/generated/i);
      expect(first, f).toContain('baton render');
    }
    const stateText = readFileSync(join(b.dir, 'state.json'), 'utf8');
    const state = JSON.parse(stateText);
    expect(state.revision).toBe(0);
    expect(stateText.trimEnd()).toBe(JSON.stringify(sortKeysDeep(state), null, 2));
    expect(readFileSync(join(b.dir, 'events.jsonl'), 'utf8')).toBe('');
    expect(() => JSON.parse(readFileSync(join(b.dir, 'handoff-index.json'), 'utf8'))).not.toThrow();

    const st = ok(await j(b, 'status'), 0);
    expect(st.profile).toBe('balanced');
  });

  it('refuses to init over an existing board and changes nothing', async () => {
    const b = await makeBoardIn();
    const before = hashTree(b.root);
    const err = fails(await j(b, 'init', '--profile', 'throughput', '--name', 'other'), 2, 'INVALID_INPUT');
    expect(err.message).toContain('project-plan');
    failsHuman(await b.run('init'), 2);
    expect(hashTree(b.root)).toEqual(before);
  });

  it('--profile throughput shows in status --json and STATUS.md', async () => {
    const b = await makeBoardIn(['--profile', 'throughput']);
    expect(ok(await j(b, 'status'), 0).profile).toBe('throughput');
    expect(readFileSync(join(b.dir, 'STATUS.md'), 'utf8')).toContain('throughput');
  });
});

describe('task commands', () => {
  it('add/show/list/edit/dep/block/unblock/cancel round-trip with full task shapes and +1 revision per mutation', async () => {
    const b = await makeBoardIn();
    let rev = 0;

    const a = ok(await j(b, 'add', 'First task', '--id', 'a'), ++rev).task;
    expectTaskShape(a);
    expect(a).toMatchObject({
      id: 'a', title: 'First task', kind: 'task', status: 'todo', description: null, specialty: null,
      parent: null, assignee: null, reviewer: null, lease: null, gate: null, estimate: 1,
      depends_on: [], candidate_depends_on: [], owned_paths: [], candidate_owned_paths: [], labels: [], notes: [],
    });

    ok(await j(b, 'add', 'The goal', '--id', 'g', '--kind', 'goal'), ++rev);
    const t = ok(
      await j(b, 'add', 'Second task', '--id', 'b', '--priority', 'P0', '--specialty', 'backend', '--depends-on', 'a',
        '--paths', 'src/**,lib/*.ts', '--estimate', '3', '--parent', 'g', '--description', 'the details',
        '--label', 'x', '--review'),
      ++rev,
    ).task;
    expectTaskShape(t);
    expect(t).toMatchObject({
      id: 'b', title: 'Second task', priority: 0, specialty: 'backend', depends_on: ['a'],
      owned_paths: ['src/**', 'lib/*.ts'], estimate: 3, parent: 'g', description: 'the details',
      labels: ['x'], review_required: true, status: 'todo',
    });

    const gate = ok(await j(b, 'add', 'CI green', '--id', 'ci', '--kind', 'gate', '--gate-type', 'ci', '--match', 'repo=web,pr=42'), ++rev).task;
    expectTaskShape(gate);
    expect(gate.kind).toBe('gate');
    expect(gate.gate).toEqual({ type: 'ci', match: { repo: 'web', pr: '42' } });

    // Ids are case-folded.
    const shownA = ok(await j(b, 'show', 'A'), rev);
    expect(shownA.task.id).toBe('a');
    expect(shownA.ready).toBe(true);
    expect(shownA.dependents).toEqual(['b']);
    const shownB = ok(await j(b, 'show', 'b'), rev);
    expectTaskShape(shownB.task);
    expect(shownB.task).toEqual(t);
    expect(shownB.ready).toBe(false);
    expect(shownB.dependents).toEqual([]);
    fails(await j(b, 'show', 'nope'), 4, 'NOT_FOUND');
    // A name every JavaScript object answers to is no task: a dependency on it is refused like any unknown id.
    fails(await j(b, 'add', 'odd', '--depends-on', 'constructor'), 4, 'NOT_FOUND');
    fails(await j(b, 'dep', 'add', 'b', 'constructor'), 4, 'NOT_FOUND');

    const all = ok(await j(b, 'list'), rev);
    expect(ids({ json: all } as Run).sort()).toEqual(['a', 'b', 'ci', 'g']);
    all.tasks.forEach(expectTaskShape);
    expect(ids(await j(b, 'list', '--ready'))).toEqual(['a']);
    expect(ids(await j(b, 'list', '--status', 'waiting,done', '--kind', 'gate'))).toEqual(['ci']);
    expect(ids(await j(b, 'list', '--label', 'x', '--specialty', 'backend'))).toEqual(['b']);
    expect(ids(await j(b, 'list', '--assignee', 'nobody'))).toEqual([]);

    const edited = ok(
      await j(b, 'edit', 'b', '--title', 'Second v2', '--priority', 'P1', '--add-label', 'y', '--rm-label', 'x',
        '--no-review', '--estimate', '2', '--paths', 'x/**'),
      ++rev,
    ).task;
    expectTaskShape(edited);
    expect(edited).toMatchObject({
      title: 'Second v2', priority: 1, labels: ['y'], review_required: false, estimate: 2, owned_paths: ['x/**'],
      // untouched fields keep their values
      description: 'the details', specialty: 'backend', depends_on: ['a'], parent: 'g', created_at: t.created_at,
    });
    expect(edited.rev).toBeGreaterThan(t.rev);

    // A no-op edit writes nothing and keeps the revision.
    let before = hashTree(b.dir);
    ok(await j(b, 'edit', 'b', '--title', 'Second v2', '--priority', 'P1'), rev);
    expect(hashTree(b.dir)).toEqual(before);

    // block needs --reason
    before = hashTree(b.dir);
    fails(await j(b, 'block', 'a'), 2, 'USAGE');
    expect(hashTree(b.dir)).toEqual(before);
    expect(ok(await j(b, 'block', 'a', '--reason', 'waiting on vendor'), ++rev).task.status).toBe('blocked');
    expect(ids(await j(b, 'list', '--ready'))).toEqual([]);
    expect(ok(await j(b, 'unblock', 'a'), ++rev).task.status).toBe('todo');

    // Cancelling the dependency makes the dependent ready.
    expect(ok(await j(b, 'cancel', 'a'), ++rev).task.status).toBe('cancelled');
    expect(ids(await j(b, 'list', '--ready'))).toEqual(['b']);
    before = hashTree(b.dir);
    fails(await j(b, 'cancel', 'a'), 3, 'INVALID_TRANSITION');
    failsHuman(await b.run('cancel', 'a'), 3);
    expect(hashTree(b.dir)).toEqual(before);

    expect(ok(await j(b, 'dep', 'add', 'b', 'ci'), ++rev).task.depends_on.sort()).toEqual(['a', 'ci']);
    expect(ok(await j(b, 'dep', 'rm', 'b', 'a'), ++rev).task.depends_on).toEqual(['ci']);

    // The log: seq 1..N, ending at the board revision; show's history is the task's events in order.
    const events = readJsonl(join(b.dir, 'events.jsonl'));
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1).revision).toBe(rev);
    const revs = events.map((e) => e.revision);
    expect(revs).toEqual([...revs].sort((x, y) => x - y));
    const shown = ok(await j(b, 'show', 'b'), rev);
    expect(shown.history).toEqual(events.filter((e) => e.task === 'b'));
    expect(shown.history.length).toBeGreaterThanOrEqual(4);

    const state = boardState(b.dir);
    expect(state.revision).toBe(rev);
    expect(Object.keys(state.tasks).sort()).toEqual(['a', 'b', 'ci', 'g']);
  });

  it('state.json and the task shards: sorted keys at every depth, 2-space indent, every task field present', async () => {
    const b = await makeBoardIn();
    ok(await j(b, 'add', 'Plain', '--id', 'plain'), 1);
    ok(await j(b, 'add', 'CI green', '--id', 'ci', '--kind', 'gate', '--gate-type', 'ci', '--match', 'repo=web,pr=42', '--label', 'l'), 2);
    ok(await j(b, 'block', 'plain', '--reason', 'r'), 3);
    ok(await j(b, 'unblock', 'plain'), 4);
    const state = boardState(b.dir);
    expect(Object.keys(state.tasks).sort()).toEqual(['ci', 'plain']);
    // Whole tasks, null for empty values: JSON.parse gives the program complete objects (see README).
    for (const t of Object.values<any>(state.tasks)) expect(Object.keys(t).sort()).toEqual([...TASK_FIELDS, 'blocked'].sort());
    // Sorted keys at every depth (the gate's type/match included), so a git diff of one change is a few lines.
    const files = ['state.json', ...readdirSync(join(b.dir, 'tasks')).map((n) => `tasks/${n}`)];
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) {
      const text = readFileSync(join(b.dir, f), 'utf8');
      expect(text.trimEnd(), f).toBe(JSON.stringify(sortKeysDeep(JSON.parse(text)), null, 2));
    }
  });
});

describe('import', () => {
  const PLAN = [
    'tasks:',
    '  - id: api',
    '    title: Build the API',
    '    depends_on: [db]', // a later entry of the same file
    '    priority: P1',
    '    labels: [backend]',
    '    paths: ["src/api/**"]',
    '    description: REST endpoints',
    '  - id: db',
    '    title: Set up the database',
    '    estimate: 2',
    '  - title: Write Docs Now!',
    '    status: done',
    '',
  ].join('\n');

  it('creates from YAML in one transaction, then a re-import changes nothing', async () => {
    const b = await makeBoardIn();
    writeFileSync(join(b.root, 'plan.yaml'), PLAN);
    const first = ok(await j(b, 'import', 'plan.yaml'), 1);
    expect([...first.created].sort()).toEqual(['api', 'db', 'write-docs-now']);
    expect(first.updated).toEqual([]);
    const listed = new Map<string, any>(ok(await j(b, 'list'), 1).tasks.map((t: any) => [t.id, t]));
    expect(listed.get('api')).toMatchObject({ depends_on: ['db'], priority: 1, labels: ['backend'], owned_paths: ['src/api/**'], description: 'REST endpoints' });
    expect(listed.get('db')).toMatchObject({ estimate: 2, depends_on: [] });
    expect(listed.get('write-docs-now')).toMatchObject({ title: 'Write Docs Now!', status: 'done' });
    expect(ids(await j(b, 'list', '--ready'))).toEqual(['db']);

    const before = hashTree(b.dir);
    const again = ok(await j(b, 'import', 'plan.yaml'), 1);
    expect(again.created).toEqual([]);
    expect(again.updated).toEqual([]);
    expect([...again.unchanged].sort()).toEqual(['api', 'db', 'write-docs-now']);
    expect(hashTree(b.dir)).toEqual(before);
  });

  it('imports JSON ({tasks:[...]} and a bare list, from a file and from stdin) and updates by id', async () => {
    const b = await makeBoardIn();
    writeFileSync(join(b.root, 'plan.json'), JSON.stringify({ tasks: [{ id: 'one', title: 'One', priority: 'P3' }, { id: 'two', title: 'Two', depends_on: ['one'] }] }));
    expect(ok(await j(b, 'import', 'plan.json'), 1).created.sort()).toEqual(['one', 'two']);

    // update: same title given, one field changed
    writeFileSync(join(b.root, 'upd.json'), JSON.stringify([{ id: 'two', title: 'Two', description: 'now described' }]));
    const upd = ok(await j(b, 'import', 'upd.json'), 2);
    expect(upd.updated).toEqual(['two']);
    expect(ok(await j(b, 'show', 'two'), 2).task).toMatchObject({ title: 'Two', description: 'now described', depends_on: ['one'] });

    const yamlIn = callStdin(b.root, ['import', '-', '--json'], '- id: three\n  title: Three\n  depends_on: [two]\n');
    expect(ok(yamlIn, 3).created).toEqual(['three']);
    const jsonIn = callStdin(b.root, ['import', '-', '--json'], JSON.stringify({ tasks: [{ id: 'four', title: 'Four' }] }));
    expect(ok(jsonIn, 4).created).toEqual(['four']);
  });

  it('an update by id changes only the fields given', async () => {
    const b = await makeBoardIn();
    writeFileSync(join(b.root, 'plan.yaml'), PLAN);
    ok(await j(b, 'import', 'plan.yaml'), 1);
    const before = ok(await j(b, 'show', 'api'), 1).task;
    writeFileSync(join(b.root, 'prio.yaml'), '- id: api\n  priority: P0\n');
    const r = ok(await j(b, 'import', 'prio.yaml'), 2);
    expect(r.updated).toEqual(['api']);
    const after = ok(await j(b, 'show', 'api'), 2).task;
    expect(after.priority).toBe(0);
    for (const f of ['title', 'description', 'depends_on', 'labels', 'owned_paths', 'estimate', 'status', 'created_at']) {
      expect(after[f], f).toEqual(before[f]);
    }
  });

  it('a bad entry or a cycle rejects the whole file and writes nothing', async () => {
    const b = await makeBoardIn();
    ok(await j(b, 'add', 'Existing', '--id', 'old'), 1);
    const before = hashTree(b.dir);
    const bad = (name: string, body: string) => writeFileSync(join(b.root, name), body);

    bad('p9.yaml', '- id: n1\n  title: N1\n- id: n2\n  title: N2\n- id: n3\n  title: N3\n  priority: P9\n');
    expect(fails(await j(b, 'import', 'p9.yaml'), 2, 'INVALID_INPUT').message).toContain('entry 3');
    expect(failsHuman(await b.run('import', 'p9.yaml'), 2)).toContain('entry 3');

    bad('doing.json', JSON.stringify([{ id: 's1', title: 'S1' }, { id: 'old', title: 'Existing', priority: 'P0' }, { id: 's3', title: 'S3', status: 'doing' }]));
    expect(fails(await j(b, 'import', 'doing.json'), 2, 'INVALID_INPUT').message).toContain('entry 3');

    bad('cycle.yaml', '- {id: c1, title: C1, depends_on: [c2]}\n- {id: c2, title: C2, depends_on: [c3]}\n- {id: c3, title: C3, depends_on: [c1]}\n');
    const cyc = fails(await j(b, 'import', 'cycle.yaml'), 2, 'DEPENDENCY_CYCLE');
    for (const id of ['c1', 'c2', 'c3']) expect(cyc.message).toContain(id);

    bad('traversal.yaml', '- {id: ok1, title: Fine}\n- {id: "../../etc/passwd", title: Evil}\n');
    expect(fails(await j(b, 'import', 'traversal.yaml'), 2, 'INVALID_INPUT').message).toContain('entry 2');

    expect(hashTree(b.dir)).toEqual(before);
    expect(ids(await j(b, 'list'))).toEqual(['old']);
  });
});

describe('dependency cycles', () => {
  it('dep add (or edit --depends-on) closing alpha→beta→gamma→alpha is refused, names the cycle, writes nothing', async () => {
    const b = await makeBoardIn();
    const plan = '- {id: alpha, title: A, depends_on: [beta]}\n- {id: beta, title: B, depends_on: [gamma]}\n- {id: gamma, title: C}\n';
    ok(callStdin(b.root, ['import', '-', '--json'], plan), 1);
    const before = hashTree(b.dir);

    const err = fails(await j(b, 'dep', 'add', 'gamma', 'alpha'), 2, 'DEPENDENCY_CYCLE');
    const seq = err.message.match(/\b(alpha|beta|gamma)\b/g) ?? [];
    expect(new Set(seq)).toEqual(new Set(['alpha', 'beta', 'gamma']));
    const dependsOn: Record<string, string> = { alpha: 'beta', beta: 'gamma', gamma: 'alpha' };
    const forward = seq.slice(1).every((id: string, i: number) => dependsOn[seq[i]] === id);
    const backward = seq.slice(1).every((id: string, i: number) => dependsOn[id] === seq[i]);
    expect(forward || backward, `cycle spelled in order: ${err.message}`).toBe(true);

    failsHuman(await b.run('dep', 'add', 'gamma', 'alpha'), 2);
    fails(await j(b, 'edit', 'gamma', '--depends-on', 'alpha'), 2, 'DEPENDENCY_CYCLE');
    fails(await j(b, 'dep', 'add', 'alpha', 'alpha'), 2, 'DEPENDENCY_CYCLE');
    expect(hashTree(b.dir)).toEqual(before);
  });
});

describe('--expected-revision', () => {
  it('a mismatch fails REVISION_CONFLICT with expected/actual and writes nothing; a match succeeds', async () => {
    const b = await makeBoardIn();
    ok(await j(b, 'add', 'X', '--id', 'x'), 1);
    const before = hashTree(b.dir);
    const err = fails(await j(b, 'add', 'Y', '--expected-revision', '0'), 3, 'REVISION_CONFLICT');
    expect(err.expected).toBe(0);
    expect(err.actual).toBe(1);
    const err2 = fails(await j(b, 'edit', 'x', '--title', 'Z', '--expected-revision', '7'), 3, 'REVISION_CONFLICT');
    expect([err2.expected, err2.actual]).toEqual([7, 1]);
    failsHuman(await b.run('cancel', 'x', '--expected-revision', '5'), 3);
    expect(hashTree(b.dir)).toEqual(before);
    expect(ok(await j(b, 'add', 'Y', '--id', 'y', '--expected-revision', '1'), 2).task.id).toBe('y');
  });
});

describe('bad input', () => {
  it('refuses bad ids, statuses, titles, priorities, flags and commands with exit 2 and writes nothing', async () => {
    const b = await makeBoardIn();
    ok(await j(b, 'add', 'Existing', '--id', 'a'), 1);
    const before = hashTree(b.root);
    const cases: string[][] = [
      ['add', 'x', '--id', '../../etc/passwd'],
      ['add', 'x', '--id', 'a/b'],
      ['add', 'x', '--id', '..'],
      ['show', '../../etc/passwd'],
      ['edit', '../../etc/passwd', '--title', 'y'],
      ['dep', 'add', '../../etc/passwd', 'a'],
      ['list', '--status', 'bogus'],
      ['add', 'x'.repeat(100_000)],
      ['add', 'x', '--priority', 'P9'],
    ];
    for (const args of cases) {
      const r = await j(b, ...args);
      fails(r, 2, ['INVALID_INPUT', 'USAGE']);
    }
    for (const args of [cases[0], cases[7]]) failsHuman(await b.run(...args), 2);

    const flag = fails(await j(b, 'add', 'x', '--prority', 'P1'), 2, 'USAGE');
    expect(JSON.stringify(flag)).toContain('--priority');
    expect(failsHuman(await b.run('add', 'x', '--prority', 'P1'), 2)).toMatch(/did you mean --priority/i);
    const cmd = fails(await j(b, 'lsit'), 2, 'USAGE');
    expect(JSON.stringify(cmd)).toMatch(/did you mean list/i);
    expect(failsHuman(await b.run('lsit'), 2)).toMatch(/did you mean list/i);

    expect(hashTree(b.root)).toEqual(before);
  });

  it('a hand-broken state.json or task shard is BOARD_CORRUPT naming file and line, for reads and mutations', async () => {
    for (const [file, line] of [[`tasks/${shardOf('one')}.json`, '"kind": "task",'], ['state.json', '"handoffs": {},']]) {
      const b = await makeBoardIn();
      ok(await j(b, 'add', 'One', '--id', 'one'), 1);
      ok(await j(b, 'add', 'Two', '--id', 'two', '--depends-on', 'one'), 2);
      const statePath = join(b.dir, file);
      const lines = readFileSync(statePath, 'utf8').split('\n');
      const i = lines.findIndex((l) => l.trim() === line);
      expect(i).toBeGreaterThan(2);
      lines[i] = lines[i].replace(/,$/, '');
      writeFileSync(statePath, lines.join('\n'));
      // The parser trips on the token after the missing comma: the next line (1-based i + 2).
      const where = `${file}:${i + 2}:`;
      const before = hashTree(b.root);
      expect(fails(await j(b, 'status'), 7, 'BOARD_CORRUPT').message).toContain(where);
      expect(fails(await j(b, 'add', 'Three'), 7, 'BOARD_CORRUPT').message).toContain(where);
      expect(failsHuman(await b.run('status'), 7)).toContain(where);
      expect(failsHuman(await b.run('add', 'Three'), 7)).toContain(where);
      expect(hashTree(b.root)).toEqual(before);
    }
  });

  it('git merge-conflict markers in state.json or a task shard are BOARD_CORRUPT naming the marker line', async () => {
    for (const [file, line, other] of [[`tasks/${shardOf('one')}.json`, '"priority": 2,', '"priority": 0,'], ['state.json', '"revision": 1,', '"revision": 4,']]) {
      const b = await makeBoardIn();
      ok(await j(b, 'add', 'One', '--id', 'one'), 1);
      const statePath = join(b.dir, file);
      const lines = readFileSync(statePath, 'utf8').split('\n');
      const i = lines.findIndex((l) => l.trim() === line);
      expect(i).toBeGreaterThan(2);
      lines.splice(i, 1, '<<<<<<< ours', `      ${line}`, '=======', `      ${other}`, '>>>>>>> theirs');
      writeFileSync(statePath, lines.join('\n'));
      const where = `${file}:${i + 1}:`;
      const before = hashTree(b.root);
      expect(fails(await j(b, 'status'), 7, 'BOARD_CORRUPT').message).toContain(where);
      expect(fails(await j(b, 'add', 'Two'), 7, 'BOARD_CORRUPT').message).toContain(where);
      expect(failsHuman(await b.run('list'), 7)).toContain(where);
      expect(hashTree(b.root)).toEqual(before);
    }
  });

  it('no board: NO_BOARD (exit 4) with the baton init hint; --dir and BATON_DIR pointing nowhere too', async () => {
    const empty = tempDir();
    const r = await call(empty, ['status', '--json']);
    const err = fails(r, 4, 'NO_BOARD');
    expect(err.hint).toContain('baton init');
    expect(failsHuman(await call(empty, ['list']), 4)).toContain('baton init');
    fails(await call(empty, ['add', 'x', '--json']), 4, 'NO_BOARD');
    fails(await call(empty, ['status', '--json', '--dir', join(empty, 'nowhere')]), 4, 'NO_BOARD');
    fails(await call(empty, ['status', '--json'], { env: { BATON_DIR: join(empty, 'nowhere') } }), 4, 'NO_BOARD');
    expect(readdirSync(empty)).toEqual([]);
  });
});

describe('Markdown safety', () => {
  it('hostile titles keep STATUS.md tables intact, inject no markup, and round-trip exactly in JSON', async () => {
    const b = await makeBoardIn();
    const titles = [
      'pipe | in || the \\| middle',
      'line one\nline two\r\nline three',
      '<script>alert("x")</script>',
      'use `code` and ``` fences',
      '[link](http://evil.example) ![img](x.png)',
      '🚀 émoji e\u0301 \u05e9\u05dc\u05d5\u05dd \u202Ertl\u202C end',
      'trailing backslash \\',
    ];
    const byId = new Map<string, string>();
    for (const title of titles) {
      const t = ok(await j(b, 'add', title)).task;
      expect(t.title).toBe(title);
      byId.set(t.id, title);
    }
    for (const t of ok(await j(b, 'list')).tasks) expect(t.title).toBe(byId.get(t.id));

    const md = readFileSync(join(b.dir, 'STATUS.md'), 'utf8');
    expect(md.toLowerCase()).not.toContain('<script');
    const table = tableOf(md, 'Ready next');
    expect(table.length).toBe(2 + titles.length);
    const cols = cellSeparators(table[0]);
    expect(cols).toBeGreaterThanOrEqual(3);
    for (const row of table) expect(cellSeparators(row), row).toBe(cols);
    for (const id of byId.keys()) expect(table.filter((row) => row.includes(id)), id).toHaveLength(1);
  });
});

describe('reads', () => {
  it('status, list, show and doctor change no byte, with and without --json', async () => {
    const b = await makeBoardIn();
    ok(await j(b, 'add', 'One', '--id', 'one'));
    ok(await j(b, 'add', 'Two', '--id', 'two', '--depends-on', 'one'));
    ok(await j(b, 'edit', 'one', '--priority', 'P0'));
    ok(await j(b, 'block', 'two', '--reason', 'needs input'));
    const before = hashTree(b.dir);
    const reads = [['status'], ['list'], ['list', '--ready'], ['show', 'two'], ['doctor']];
    for (const args of reads) {
      for (const json of [true, false]) {
        const r = await call(b.root, json ? [...args, '--json'] : args);
        expect(r.code, `${args.join(' ')} ${json}: ${r.stderr}`).toBe(0);
        if (json) expect(r.json.revision).toBe(4);
        else expect(r.stdout.length).toBeGreaterThan(0);
        expect(hashTree(b.dir), args.join(' ')).toEqual(before);
      }
    }
  });
});

describe('render', () => {
  it('is a no-op right after a mutation and recreates deleted projections byte for byte', async () => {
    const b = await makeBoardIn();
    ok(await j(b, 'add', 'One', '--id', 'one', '--label', 'l'));
    ok(await j(b, 'add', 'Two | pipes', '--id', 'two', '--depends-on', 'one'));
    const before = hashTree(b.dir);
    ok(await j(b, 'render'), 2);
    expect(hashTree(b.dir)).toEqual(before);

    const generated = [...GENERATED_MD, 'handoff-index.json'];
    const saved = Object.fromEntries(generated.map((f) => [f, readFileSync(join(b.dir, f))]));
    for (const f of generated) unlinkSync(join(b.dir, f));
    ok(await j(b, 'render'), 2);
    for (const f of generated) expect(readFileSync(join(b.dir, f)).equals(saved[f]), f).toBe(true);
    expect(hashTree(b.dir)).toEqual(before);
  });
});

describe('doctor', () => {
  it('is healthy on fresh and used boards, flags a deleted STATUS.md, and --repair fixes it', async () => {
    const b = await makeBoardIn();
    const allOk = (d: any) => {
      expect(d.healthy).toBe(true);
      expect(d.checks.length).toBeGreaterThan(0);
      for (const c of d.checks) expect(c.ok, `${c.name}: ${c.message}`).toBe(true);
    };
    allOk(ok(await j(b, 'doctor'), 0));

    writeFileSync(join(b.root, 'plan.yaml'), '- {id: a, title: A}\n- {id: b, title: B, depends_on: [a]}\n');
    ok(await j(b, 'import', 'plan.yaml'), 1);
    ok(await j(b, 'block', 'b', '--reason', 'r'), 2);
    allOk(ok(await j(b, 'doctor'), 2));

    unlinkSync(join(b.dir, 'STATUS.md'));
    const sick = ok(await j(b, 'doctor'), 2);
    expect(sick.healthy).toBe(false);
    const proj = sick.checks.find((c: any) => /projection/.test(c.name));
    expect(proj).toBeDefined();
    expect(proj.ok).toBe(false);
    expect(sick.checks.filter((c: any) => !c.ok)).toEqual([proj]);
    expect(existsSync(join(b.dir, 'STATUS.md'))).toBe(false); // doctor without --repair writes nothing

    ok(await j(b, 'doctor', '--repair'));
    expect(existsSync(join(b.dir, 'STATUS.md'))).toBe(true);
    allOk(ok(await j(b, 'doctor'), 2));
  });
});

describe('finding the board', () => {
  it('walks up from a subdirectory; honours BATON_DIR and --dir in that order of precedence', async () => {
    const b = await makeBoardIn();
    const other = await makeBoardIn();
    ok(await j(b, 'add', 'X', '--id', 'x'), 1);
    const sub = join(b.root, 'src', 'deep');
    mkdirSync(sub, { recursive: true });
    expect(ok(await call(sub, ['status', '--json']), 1).board).toBe(b.dir);
    expect(ok(await call(sub, ['add', 'Y', '--id', 'y', '--json']), 2).task.id).toBe('y');
    expect(existsSync(join(sub, 'project-plan'))).toBe(false);

    const elsewhere = tempDir();
    expect(ok(await call(elsewhere, ['status', '--json'], { env: { BATON_DIR: b.dir } }), 2).board).toBe(b.dir);
    expect(ok(await call(elsewhere, ['status', '--json', '--dir', b.dir]), 2).board).toBe(b.dir);
    // BATON_DIR beats walking up; --dir beats BATON_DIR.
    expect(ok(await call(b.root, ['status', '--json'], { env: { BATON_DIR: other.dir } }), 0).board).toBe(other.dir);
    expect(ok(await call(b.root, ['status', '--json', '--dir', b.dir], { env: { BATON_DIR: other.dir } }), 2).board).toBe(b.dir);
  });

  it("from a linked git worktree without project-plan/, uses the main worktree's board", async () => {
    const root = tempDir();
    const repo = join(root, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q');
    git(repo, 'commit', '-q', '--allow-empty', '-m', 'init');
    ok(await call(repo, ['init', '--name', 'wt-test', '--json']), 0);
    ok(await call(repo, ['add', 'X', '--id', 'x', '--json']), 1);
    git(repo, 'worktree', 'add', '-q', join(root, 'wt'));
    const wtSub = join(root, 'wt', 'pkg');
    mkdirSync(wtSub);
    expect(existsSync(join(root, 'wt', 'project-plan'))).toBe(false);

    const st = ok(await call(wtSub, ['status', '--json']), 1);
    expect(realpathSync(st.board)).toBe(realpathSync(join(repo, 'project-plan')));
    ok(await call(join(root, 'wt'), ['add', 'From worktree', '--id', 'wt-task', '--json']), 2);
    expect(Object.keys(boardState(join(repo, 'project-plan')).tasks).sort()).toEqual(['wt-task', 'x']);
    expect(existsSync(join(root, 'wt', 'project-plan'))).toBe(false);
  });
});

describe('help and version', () => {
  /** Every command the README's command reference names (the first word of each `…` in its first column). */
  const README_COMMANDS = (() => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Commands'), readme.indexOf('\n## ', readme.indexOf('## Commands') + 5));
    const names = new Set<string>();
    for (const row of table.split('\n').filter((l) => l.startsWith('| `'))) {
      const first = row.split(' | ')[0]!;
      for (const m of first.matchAll(/`([a-z][a-z-]*)/g)) names.add(m[1]!);
    }
    return [...names].sort();
  })();
  const COMMANDS = ['init', 'status', 'render', 'doctor', 'add', 'import', 'list', 'show', 'edit', 'dep', 'block', 'unblock', 'cancel'];

  it('the README documents exactly the commands --help lists, and each one has its own --help', async () => {
    const cwd = tempDir();
    const listed = [...(await call(cwd, ['--help'])).stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(README_COMMANDS.length).toBeGreaterThan(40);
    expect(README_COMMANDS).toEqual([...new Set(listed)].sort());
    for (const c of listed) {
      const h = await call(cwd, [c, '--help']);
      expect(h.code, c).toBe(0);
      expect(h.stdout, c).toMatch(new RegExp(`^Usage: baton ${c}\\b`));
    }
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('--help lists every command; no arguments prints help and exits 0; --version prints a version', async () => {
    const cwd = tempDir();
    const help = await call(cwd, ['--help']);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout, c).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));

    const bare = await call(cwd, []);
    expect(bare.code).toBe(0);
    for (const c of COMMANDS) expect(bare.stdout, c).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));

    const dep = await call(cwd, ['dep', '--help']);
    expect(dep.code).toBe(0);
    expect(dep.stdout).toMatch(/^\s+add\b/m);
    expect(dep.stdout).toMatch(/^\s+rm\b/m);

    const v = await call(cwd, ['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe('colour', () => {
  const underTty = (b: TestBoardIn, env: Record<string, string>) =>
    execFileSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} doctor`, '/dev/null'], {
      cwd: b.root,
      env: { ...baseEnv(), ...env },
      encoding: 'utf8',
    });

  it('colours human output on a TTY only, never with NO_COLOR, --no-color or --json', async () => {
    const b = await makeBoardIn();
    const env = { NO_COLOR: '', FORCE_COLOR: '' };
    expect(underTty(b, env)).toMatch(/\u001b\[\d+m/);
    expect(underTty(b, { ...env, NO_COLOR: '1' })).not.toMatch(/\u001b\[/);
    expect((await b.run('doctor')).stdout).not.toMatch(/\u001b\[/);
    expect((await b.run('doctor', '--json')).stdout).not.toMatch(/\u001b\[/);
  });
});

describe("STATUS.md's graph on a big board", () => {
  const graphOf = (md: string) => {
    const block = /```mermaid\n([\s\S]*?)```/.exec(md)![1]!;
    return { block, boxes: block.split('\n').filter((l) => /^ {2}n\d+\["/.test(l)), edges: block.split('\n').filter((l) => l.includes(' --> ')) };
  };

  it('shows the frontier (every task in flight, the best ready, what they unblock next) with its edges, a legend and what was left out', async () => {
    const b = await makeBoardIn(['--profile', 'throughput']);
    // 50 chains of 20: each chain's head is ready, the rest wait on the one before.
    const plan = Array.from({ length: 1000 }, (_, i) => ({ id: `c${Math.floor(i / 20)}-${i % 20}`, title: `step ${i % 20} of chain ${Math.floor(i / 20)}`, ...(i % 20 ? { depends_on: [`c${Math.floor(i / 20)}-${(i % 20) - 1}`] } : {}), priority: i % 4 }));
    writeFileSync(join(b.root, 'plan.json'), JSON.stringify(plan));
    ok(await j(b, 'import', 'plan.json'));
    const w = ok(await j(b, 'join', '--name', 'w', '--role', 'worker'));
    const env = { BATON_SESSION: w.session.id, BATON_TOKEN: w.token };
    for (const id of ['c3-0', 'c7-0']) ok(await call(b.root, ['claim', id, '--json'], { env }));
    const md = readFileSync(join(b.dir, 'STATUS.md'), 'utf8');
    const g = graphOf(md);
    for (const id of ['c3-0', 'c7-0']) expect(g.block).toMatch(new RegExp(`\\["${id}: [^"]*"\\]:::in_progress`));
    // What those two unblock next is there, joined to them.
    for (const id of ['c3-1', 'c7-1']) expect(g.block).toContain(`["${id}: `);
    expect(g.boxes.filter((l) => l.endsWith(':::ready')).length).toBeGreaterThanOrEqual(10);
    // Each task shown for what it unblocks is joined to the task it waits on (one chain step each).
    const waiting = g.boxes.filter((l) => l.endsWith(':::todo')).map((l) => /^ {2}(n\d+)\[/.exec(l)![1]!);
    expect(waiting.length).toBeGreaterThan(2);
    for (const n of waiting) expect(g.edges.filter((e) => e.endsWith(` --> ${n}`)), n).toHaveLength(1);
    expect(g.edges.length).toBeLessThanOrEqual(500);
    expect(md).toContain('Colours: blue in progress');
    expect(md).toMatch(/Showing \d+ of 1000 unfinished tasks, the frontier: 2 of 2 in flight, \d+ of 48 ready, and \d+ they unblock next/);
  });

  it('stays within what a git host renders: at most 500 edges and 50,000 characters of Mermaid, however the board is shaped', async () => {
    const b = await makeBoardIn(['--profile', 'throughput']);
    // One task everything waits on, twice over, and titles at their longest.
    const plan = [
      { id: 'root', title: 'r'.repeat(300) },
      { id: 'root2', title: 'q'.repeat(300) },
      ...Array.from({ length: 1500 }, (_, i) => ({ id: `t${i}`, title: `${'x'.repeat(290)} ${i}`, depends_on: ['root', 'root2'] })),
    ];
    writeFileSync(join(b.root, 'plan.json'), JSON.stringify(plan));
    ok(await j(b, 'import', 'plan.json'));
    const g = graphOf(readFileSync(join(b.dir, 'STATUS.md'), 'utf8'));
    expect(g.edges.length).toBeLessThanOrEqual(500);
    expect(g.block.length).toBeLessThanOrEqual(50_000);
    expect(g.boxes.length).toBeGreaterThan(2);

    // A small board, but dense: 100 tasks each waiting on the ten before (945 dependencies).
    const d = await makeBoardIn();
    writeFileSync(join(d.root, 'dense.json'), JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ id: `d${i}`, title: `dense ${i}`, depends_on: Array.from({ length: Math.min(i, 10) }, (_, k) => `d${i - k - 1}`) }))));
    ok(await j(d, 'import', 'dense.json'));
    const md = readFileSync(join(d.dir, 'STATUS.md'), 'utf8');
    const dense = graphOf(md);
    expect(dense.edges.length).toBeLessThanOrEqual(500);
    // Every dependency between the tasks shown is drawn (what reads on a page: test/graph.test.ts).
    const shown = new Map(dense.boxes.map((l) => [/\["(d\d+): /.exec(l)![1]!, /^ {2}(n\d+)\[/.exec(l)![1]!]));
    const between = [...shown.keys()].flatMap((id) => Array.from({ length: Math.min(Number(id.slice(1)), 10) }, (_, k) => `d${Number(id.slice(1)) - k - 1}`).filter((d) => shown.has(d)).map((d) => `  ${shown.get(d)} --> ${shown.get(id)}`));
    expect(dense.edges.sort()).toEqual(between.sort());
    expect(dense.edges.length).toBeGreaterThan(0);
    expect(md).toMatch(/Showing \d+ of 100 unfinished tasks/);
  });
});
