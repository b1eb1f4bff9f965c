import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { BatonError } from '../rules/errors.js';
import { readEventsSince } from '../store/eventlog.js';
import { pidAlive } from '../store/lock.js';
import { readState } from '../store/store.js';
import type { BatonEvent, State } from '../rules/types.js';
import { waitUntil } from '../store/waiting.js';
import { withLock } from '../store/tx.js';
import { IN_FLIGHT } from '../rules/vocabulary.js';
import { renderLatest } from '../store/renderlock.js';
import type { Ctx, RunIO } from './context.js';

/**
 * `baton demo`: a simulated team on a scratch board. The orchestrator is this process; the
 * three workers and the reviewer are real `baton spawn`ed processes running the built-in
 * scripted agent (`baton __demo-agent`), each calling baton like any agent would. Along the way
 * a review is sent back, a task is handed off and a CI gate is resolved by a signal.
 */

const PLAN = {
  tasks: [
    { id: 'launch', title: 'Launch the bookshop', kind: 'goal', priority: 'P0' },
    { id: 'schema', title: 'Design the catalogue schema', specialty: 'backend', priority: 'P0', parent: 'launch', paths: ['db/**'], estimate: 2 },
    { id: 'api', title: 'Books API with search', specialty: 'backend', depends_on: ['schema'], parent: 'launch', paths: ['src/api/**'], estimate: 3 },
    { id: 'ui', title: 'Storefront pages', specialty: 'frontend', depends_on: ['api'], parent: 'launch', paths: ['src/web/**'], estimate: 3 },
    { id: 'docs', title: 'API guide for partners', specialty: 'docs', depends_on: ['api'], parent: 'launch', paths: ['docs/**'] },
    { id: 'ci', title: 'CI green on the release PR', kind: 'gate', gate: { type: 'ci', match: { repo: 'bookshop', pr: '1' } }, parent: 'launch', depends_on: ['ui'] },
    { id: 'release', title: 'Tag and ship v1', depends_on: ['ci', 'docs'], parent: 'launch', priority: 'P1' },
  ],
};


function baton(bin: string, cwd: string, args: string[], env: Record<string, string | undefined> = {}): { ok: boolean; [k: string]: unknown } {
  try {
    return JSON.parse(process.getBuiltinModule('node:child_process').execFileSync(process.execPath, [bin, ...args, '--json'], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (e) {
    const out = (e as { stdout?: string }).stdout;
    if (out) return JSON.parse(out);
    throw e;
  }
}

function line(e: BatonEvent): string | null {
  const who = e.actor ? e.actor.padEnd(14) : ''.padEnd(14);
  const what: Record<string, string> = {
    'task.claimed': `claims ${e.task}`,
    'task.submitted': `finishes ${e.task} → review`,
    'review.started': `reviews ${e.task}`,
    'review.rejected': `sends ${e.task} back: ${String(e.data.notes ?? '')}`,
    'review.approved': `approves ${e.task}`,
    'task.done': `finishes ${e.task}`,
    'task.handed_off': `hands ${e.task} off to ${String(e.data.to)}`,
    'handoff.taken': `takes over ${e.task}`,
    'task.resumed': `reworks ${e.task}`,
    'gate.resolved': `CI passed: gate ${e.task} resolved`,
    'goal.completed': `goal ${e.task} complete`,
    'spawn.running': `joins (spawned, pid ${String(e.data.pid)})`,
    'spawn.exited': `leaves (exit ${String(e.data.exit_code)})`,
  };
  const text = what[e.type];
  return text ? `  ${e.ts.slice(11, 19)}  ${who} ${text}` : null;
}

function counts(state: State): string {
  const c: Record<string, number> = {};
  for (const t of Object.values(state.tasks)) c[t.status] = (c[t.status] ?? 0) + 1;
  return ['todo', 'waiting', 'in_progress', 'review', 'in_review', 'changes_requested', 'handoff', 'done'].filter((k) => c[k]).map((k) => `${k} ${c[k]}`).join(' · ');
}

export interface DemoResult {
  revision: number;
  board: string;
  status_md: string;
  /** A copy of the board taken mid-run (work in flight, some done): a live board to look at. */
  midway: string | null;
  seconds: number;
  done: number;
  total: number;
}

/** `baton demo`: its progress is streamed to `io` a line at a time; the result says where the board is. */
export async function run(o: { dir?: string }, ctx: Ctx, io: RunIO): Promise<DemoResult> {
  const say = (text: string) => io.emit({ text });
  const started = Date.now();
  const bin = ctx.bin;
  const root = o.dir ? resolve(ctx.cwd, o.dir) : mkdtempSync(join(tmpdir(), 'baton-demo-'));
  mkdirSync(root, { recursive: true });
  const board = join(root, 'project-plan');
  const env = { BATON_DIR: board, BATON_SESSION: undefined, BATON_TOKEN: undefined };
  say(`baton demo: a simulated team on a scratch board in ${root}\n`);
  if (!baton(bin, root, ['init', '--name', 'bookshop'], env).ok) throw new BatonError('INVALID_INPUT', `Can't make a board in ${root} (is there one already?).`, { hint: 'baton demo --dir EMPTY-DIR' });
  const cfgPath = join(board, 'config.yaml');
  const agentCmd = JSON.stringify([process.execPath, bin, '__demo-agent']);
  writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace(/^ {2}agents: \{\}$/m, `  agents:\n    sim:\n      command: ${agentCmd}`).replace('max_parallel: 4', 'max_parallel: 6'));
  writeFileSync(join(root, 'plan.json'), JSON.stringify(PLAN));
  baton(bin, root, ['import', 'plan.json'], env);
  const orch = baton(bin, root, ['orchestrator', 'start'], env) as unknown as { session: { id: string }; token: string; agent: { id: string } };
  const me = { ...env, BATON_SESSION: orch.session.id, BATON_TOKEN: orch.token };
  say(`orchestrator ${orch.agent.id} filled the board: ${PLAN.tasks.length} tasks (a goal, a CI gate, dependencies)`);
  const team = [
    ['--next', '--specialty', 'backend', '--name', 'ada'],
    ['--specialty', 'frontend', '--name', 'finn'],
    ['--specialty', 'docs,frontend', '--name', 'dot'],
    ['--role', 'reviewer', '--name', 'rey'],
  ];
  const children: string[] = [];
  for (const args of team) {
    const r = baton(bin, root, ['spawn', '--agent', 'sim', ...args], me) as unknown as { ok: boolean; child: { session: string; agent: string }; error?: { message: string } };
    if (!r.ok) throw new BatonError('INTERNAL', `The demo could not spawn ${args.join(' ')}: ${r.error?.message}`);
    children.push(r.child.session);
  }
  say('spawned workers ada (backend), finn (frontend), dot (docs) and reviewer rey\n');

  // Watch the board move; signal CI once the storefront is done.
  let seq = 0;
  let shown = '';
  let signalled = false;
  let justSignalled = false;
  const live = (state: State) => children.filter((c) => ['starting', 'running'].includes(state.sessions[c]?.spawn?.state ?? ''));
  const midwayRoot = join(root, 'midway');
  let midway: string | null = null;
  const keepMidway = async (state: State) => {
    const statuses = Object.values(state.tasks).map((t) => t.status);
    const lively = statuses.includes('done') && statuses.some((x) => IN_FLIGHT.has(x));
    if (midway || !(lively || justSignalled)) return;
    midway = join(midwayRoot, 'project-plan');
    // Under the board lock: the copy is one revision of the board, whole (lock files left out).
    await withLock(board, ctx.lockTimeoutMs, () => cpSync(board, midway!, { recursive: true, filter: (src) => !/[\\/]\.baton\.lock/.test(src) && !src.endsWith(`${join('project-plan', 'runs')}`) }));
    // The Markdown is rendered after the board lock is let go: made again from the copy's own state.
    await renderLatest(midway, ctx.lockTimeoutMs, true);
  };
  const state = await waitUntil(
    board,
    async () => {
      const state = await readState(board);
      for (const e of readEventsSince(board, seq, state.seq)) {
        const l = line(e);
        if (l) say(l);
      }
      const now = counts(state);
      if (now !== shown) say(`  ${''.padEnd(8)}  ${'board'.padEnd(14)} ${now}`);
      shown = now;
      seq = state.seq;
      justSignalled = !signalled && state.tasks.ui?.status === 'done';
      // A copy of the board part-way, once work is in flight and some is done (at the latest before the CI signal).
      await keepMidway(state);
      if (justSignalled) {
        signalled = true;
        say(`  ${new Date().toISOString().slice(11, 19)}  ${'ci'.padEnd(14)} baton signal --type ci --match repo=bookshop,pr=1 --outcome success`);
        baton(bin, root, ['signal', '--type', 'ci', '--match', 'repo=bookshop,pr=1', '--outcome', 'success'], env);
      }
      return state;
    },
    // The signal is a commit: the wait wakes at once to show what it did.
    (state) => !justSignalled && live(state).length === 0,
    { deadline: Date.now() + 90_000, pollMs: 2000 },
  );
  // A supervisor records its child's exit, then regenerates the Markdown: the demo ends once they
  // have all gone, so the board it names is still (no process announces its end but by going).
  const supervisors = children.map((c) => state.sessions[c]?.spawn?.supervisor_pid).filter((p): p is number => typeof p === 'number');
  for (const until = Date.now() + 10_000; supervisors.some((p) => pidAlive(p)) && Date.now() < until; ) await pause(50);
  const total = Object.keys(state.tasks).length;
  const done = Object.values(state.tasks).filter((t) => t.status === 'done').length;
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  say(`\n${done} of ${total} done in ${seconds}s. The board: ${join(board, 'STATUS.md')}`);
  if (midway) say(`The board part-way, with work in flight: ${join(midway, 'STATUS.md')} (cd ${midwayRoot} && baton status)`);
  if (done !== total) throw new BatonError('INTERNAL', `The demo ended with ${total - done} task(s) unfinished; see ${join(board, 'runs')}.`, { details: { board } });
  return { revision: state.revision, board, status_md: join(board, 'STATUS.md'), midway, seconds, done, total };
}

// ---------------------------------------------------------------- the scripted agent


/**
 * `baton __demo-agent` (internal): the loop any agent runs (next → act), with a little
 * theatre: rey sends the API back once, and dot hands the partner guide over half-way.
 */
export async function agent(ctx: Ctx): Promise<void> {
  const bin = ctx.bin;
  const me = ctx.env.BATON_AGENT ?? '';
  const cwd = ctx.cwd;
  let rejected = false;
  let handedOff = false;
  for (let i = 0; i < 200; i++) {
    const n = baton(bin, cwd, ['next', '--watch', '10']) as unknown as { ok: boolean; action: string; task: { id: string; status: string } | null; error?: { message: string } };
    if (!n.ok) throw new BatonError('INTERNAL', `The demo agent ${me} could not ask for its next step: ${n.error?.message}`);
    const id = n.task?.id ?? '';
    await pause(150 + Math.floor(Math.random() * 250));
    switch (n.action) {
      case 'idle':
        return;
      case 'claim':
      case 'address-review':
        baton(bin, cwd, ['claim', id]);
        break;
      case 'take-handoff':
        baton(bin, cwd, ['handoff', 'take', id]);
        break;
      case 'review':
        baton(bin, cwd, ['review', 'start', id]);
        break;
      case 'continue':
        if (n.task!.status === 'in_review') {
          if (id === 'api' && !rejected) {
            rejected = true;
            baton(bin, cwd, ['review', 'reject', id, '--notes', 'search needs pagination']);
          } else baton(bin, cwd, ['review', 'approve', id, '--notes', 'looks good']);
        } else if (id === 'docs' && me.startsWith('dot') && !handedOff) {
          handedOff = true;
          baton(bin, cwd, ['handoff', id, '--to', 'agent:finn', '--notes', 'outline and auth section written; search examples left']);
        } else baton(bin, cwd, ['done', id, '--notes', `${id} implemented by ${me}`]);
        break;
      default:
        break;
    }
  }
}
