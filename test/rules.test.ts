import { describe, expect, it } from 'vitest';
import { claimTask, finishClaim, releaseClaim } from '../src/rules/claims.js';
import { giveVerdict, startReview } from '../src/rules/reviewing.js';
import { handOver, takeHandoff } from '../src/rules/handover.js';
import { answerQuestion, askQuestion, openQuestions } from '../src/rules/questions.js';
import { ackable, fold } from '../src/rules/notifications.js';
import { archivable, pruneTombstones } from '../src/rules/archiving.js';
import { hashToken } from '../src/rules/digest.js';
import { ConfigSchema } from '../src/rules/schema.js';
import type { BatonEvent, Config, State, Task } from '../src/rules/types.js';
import { agentNamed, boardWith, CONFIG, fakeTx, meOf, refusal, sessionOf, T0, task } from './inprocess.js';

/**
 * The rules of claims, review, handoffs, questions, notifications and the archive, run in-process
 * on boards in memory: what each allows, what it refuses (code, words, next step) and that a
 * refusal changes nothing. The process tests (agents, signals, orchestration, archive) prove the
 * same rules through the built binary, the lock and the files.
 */

const LATER = '2026-01-01T00:10:00.000Z';
const config = (over: Record<string, unknown>): Config => ConfigSchema.parse({ name: 'unit', ...over });
const noHistory = () => [];

/** A refusal must leave the board as it was: the same state and no event. */
function refusedUnchanged(s: State, tx: ReturnType<typeof fakeTx>, f: () => unknown) {
  const before = JSON.stringify(s);
  const r = refusal(f);
  expect(JSON.stringify(s)).toBe(before);
  expect(tx.events).toEqual([]);
  return r;
}

describe('claims (rules/claims.ts)', () => {
  it('a claim gives the task to the calling session with a fresh lease whose token only the claimer sees', () => {
    const s = boardWith([task('a')], [agentNamed('w')]);
    const tx = fakeTx(s, CONFIG, LATER);
    const claim = claimTask(tx, meOf(s, 'w'), s.tasks.a!);
    expect(s.tasks.a).toMatchObject({ status: 'in_progress', assignee: 'w', lease: { session: 's-w', heartbeat_at: LATER, expires_at: '2026-01-01T00:25:00.000Z' } });
    expect(s.tasks.a!.lease!.token_hash).toBe(hashToken(claim.lease_token));
    expect(tx.events.map((e) => e.type)).toEqual(['task.claimed']);
  });

  it.each([
    ['a task another session holds', () => task('a', { status: 'in_progress', assignee: 'v', lease: { session: 's-v', expires_at: '2026-01-01T01:00:00.000Z', heartbeat_at: T0, token_hash: 'x' } }), CONFIG, { code: 'LEASE_CONFLICT', message: 'Task a is already held by v until 2026-01-01T01:00:00.000Z.', hint: 'baton next' }],
    ['a task waiting for an unfinished dependency', () => task('a', { depends_on: ['dep'] }), CONFIG, { code: 'INVALID_TRANSITION', message: 'Task a waits for dep, which is todo.', hint: 'baton next' }],
    ['a goal', () => task('a', { kind: 'goal' }), CONFIG, { code: 'INVALID_TRANSITION', message: 'a is a goal; only plain tasks are claimed.', hint: 'baton next' }],
    ['a task in review', () => task('a', { status: 'review', assignee: 'v' }), CONFIG, { code: 'INVALID_TRANSITION', message: 'Task a is review; only a todo task can be claimed.', hint: 'baton next' }],
    ['a task sent back to its author, by another', () => task('a', { status: 'changes_requested', assignee: 'v' }), CONFIG, { code: 'NOT_YOURS', message: 'Task a was sent back to v, its author; it is theirs to address.', hint: 'baton next' }],
    ['a second task under the safe profile', () => task('a'), config({ profile: 'safe' }), { code: 'LIMIT_REACHED', message: 'You already have 1 task(s) in progress (held); the safe profile allows 1. Finish or release one first.', hint: 'baton done held' }],
  ] as const)('refuses %s, and changes nothing', (_name, make, cfg, expected) => {
    const held = task('held', { status: 'in_progress', assignee: 'w', lease: { session: 's-w', expires_at: '2026-01-01T01:00:00.000Z', heartbeat_at: T0, token_hash: 'x' } });
    const s = boardWith([make(), task('dep'), ...(cfg.profile === 'safe' ? [held] : [])], [agentNamed('w'), agentNamed('v')]);
    const tx = fakeTx(s, cfg, LATER);
    expect(refusedUnchanged(s, tx, () => claimTask(tx, meOf(s, 'w'), s.tasks.a!))).toEqual(expected);
  });

  it('at the in-flight limit with the work held by an earlier session of the same agent, the refusal names the takeover', () => {
    const held = task('held', { status: 'in_progress', assignee: 'w', lease: { session: 's-old', expires_at: '2026-01-01T01:00:00.000Z', heartbeat_at: T0, token_hash: 'x' } });
    const s = boardWith([task('a'), held], [agentNamed('w')]);
    s.sessions['s-old'] = sessionOf('s-old', 'w');
    const tx = fakeTx(s, config({ profile: 'safe' }), LATER);
    expect(refusedUnchanged(s, tx, () => claimTask(tx, meOf(s, 'w'), s.tasks.a!))).toMatchObject({ code: 'LIMIT_REACHED', hint: 'baton join --name w --resume' });
  });

  it('done goes to review when the profile asks for one, to done when it does not; release puts the task back in the queue', () => {
    const lease = { session: 's-w', expires_at: '2026-01-01T01:00:00.000Z', heartbeat_at: T0, token_hash: 'x' };
    for (const [cfg, to, type] of [[CONFIG, 'review', 'task.submitted'], [config({ profile: 'throughput' }), 'done', 'task.done']] as const) {
      const s = boardWith([task('a', { status: 'in_progress', assignee: 'w', lease: { ...lease } })], [agentNamed('w')]);
      const tx = fakeTx(s, cfg, LATER);
      finishClaim(tx, noHistory, meOf(s, 'w'), s.tasks.a!, 'all tested', undefined);
      expect([s.tasks.a!.status, s.tasks.a!.lease, s.tasks.a!.notes.map((n) => n.text)]).toEqual([to, null, ['all tested']]);
      expect(tx.events[0]).toMatchObject({ type, ...(to === 'review' ? { notify: { targets: ['reviewers'], kind: 'review-ready' } } : {}) });
    }
    const s = boardWith([task('a', { status: 'in_progress', assignee: 'w', lease: { ...lease } })], [agentNamed('w')]);
    const tx = fakeTx(s, CONFIG, LATER);
    releaseClaim(tx, noHistory, meOf(s, 'w'), s.tasks.a!, 'blocked on access', undefined);
    expect([s.tasks.a!.status, s.tasks.a!.assignee, s.tasks.a!.lease]).toEqual(['todo', null, null]);
    expect(tx.events[0]).toMatchObject({ type: 'task.released', data: { reason: 'blocked on access', previous_session: 's-w', previous_agent: 'w' } });
  });

  it('done by a session that does not hold the task is refused, and the log is read only to tell why', () => {
    const s = boardWith([task('a', { status: 'in_progress', assignee: 'v', lease: { session: 's-v', expires_at: '2026-01-01T01:00:00.000Z', heartbeat_at: T0, token_hash: 'x' } })], [agentNamed('w'), agentNamed('v')]);
    const tx = fakeTx(s, CONFIG, LATER);
    let reads = 0;
    const history = () => {
      reads += 1;
      return [];
    };
    expect(refusedUnchanged(s, tx, () => finishClaim(tx, history, meOf(s, 'w'), s.tasks.a!, null, undefined))).toMatchObject({ code: 'LEASE_CONFLICT', message: 'Task a is held by v (session s-v), not by you.' });
    expect(reads).toBe(1);
  });
});

describe('review (rules/reviewing.ts)', () => {
  const inReview = (over: Partial<Task> = {}) => task('a', { status: 'review', assignee: 'w', ...over });

  it('its author may not review a task unless config.yaml allows it; another agent may', () => {
    const s = boardWith([inReview()], [agentNamed('w'), agentNamed('r', 'reviewer')]);
    const tx = fakeTx(s, CONFIG, LATER);
    expect(refusedUnchanged(s, tx, () => startReview(tx, meOf(s, 'w'), s.tasks.a!))).toEqual({
      code: 'NOT_YOURS',
      message: 'You wrote a; another agent must review it (config.yaml review.allow_self_review is false).',
      hint: 'baton next',
    });
    const self = fakeTx(s, config({ review: { allow_self_review: true } }), LATER);
    startReview(self, meOf(s, 'w'), s.tasks.a!);
    expect(s.tasks.a).toMatchObject({ status: 'in_review', reviewer: 'w', lease: { session: 's-w' } });
  });

  it('approve finishes the task and tells its author; reject sends it back to the author, high priority', () => {
    for (const [kind, status, notify] of [['approve', 'done', { kind: 'approved', priority: 'normal' }], ['reject', 'changes_requested', { kind: 'changes-requested', priority: 'high' }]] as const) {
      const s = boardWith([inReview()], [agentNamed('w'), agentNamed('r', 'reviewer')]);
      const tx = fakeTx(s, CONFIG, LATER);
      startReview(tx, meOf(s, 'r'), s.tasks.a!);
      giveVerdict(tx, noHistory, meOf(s, 'r'), s.tasks.a!, kind, 'looked at it', undefined);
      expect([s.tasks.a!.status, s.tasks.a!.assignee, s.tasks.a!.lease]).toEqual([status, 'w', null]);
      expect(tx.events.at(-1)).toMatchObject({ notify: { targets: ['agent:w'], ...notify } });
    }
  });

  it('a verdict on a task nobody started reviewing is refused', () => {
    const s = boardWith([inReview()], [agentNamed('w'), agentNamed('r', 'reviewer')]);
    const tx = fakeTx(s, CONFIG, LATER);
    expect(refusedUnchanged(s, tx, () => giveVerdict(tx, noHistory, meOf(s, 'r'), s.tasks.a!, 'approve', null, undefined))).toMatchObject({ code: 'INVALID_TRANSITION', hint: 'baton review start a' });
  });
});

describe('handoffs (rules/handover.ts)', () => {
  const held = () => task('a', { status: 'in_progress', assignee: 'w', specialty: 'api', lease: { session: 's-w', expires_at: '2026-01-01T01:00:00.000Z', heartbeat_at: T0, token_hash: 'x' } });
  const where = { branch: 'feature', diff_stat: ' a.ts | 2 +-' };

  it('the holder hands over: a record with notes, git context and recent events; the lease ends; the specialty workers are told', () => {
    const s = boardWith([held()], [agentNamed('w'), agentNamed('x', 'worker', ['api'])]);
    const tx = fakeTx(s, CONFIG, LATER);
    const recent = [{ seq: 3, ts: T0, type: 'task.claimed', actor: 'w' }];
    const r = handOver(tx, { history: noHistory, recent: (id) => (id === 'a' ? recent : []) }, meOf(s, 'w'), 'a', { to: null, notes: 'parser done, tests left', where, leaseToken: undefined });
    expect(r.handoff).toMatchObject({ task: 'a', from: 'w', from_session: 's-w', to: 'workers:api', notes: 'parser done, tests left', branch: 'feature', recent, state: 'open' });
    expect([s.tasks.a!.status, s.tasks.a!.lease]).toEqual(['handoff', null]);
    expect(tx.events[0]).toMatchObject({ type: 'task.handed_off', notify: { targets: ['workers:api'], kind: 'handoff-ready', priority: 'high' } });
  });

  it('a handover by a session that does not hold the task is refused before the log is read for recent events', () => {
    const s = boardWith([held()], [agentNamed('w'), agentNamed('x', 'worker', ['api'])]);
    const tx = fakeTx(s, CONFIG, LATER);
    let recentReads = 0;
    const log = { history: noHistory, recent: () => ((recentReads += 1), []) };
    expect(refusedUnchanged(s, tx, () => handOver(tx, log, meOf(s, 'x'), 'a', { to: null, notes: 'n', where, leaseToken: undefined }))?.code).toBe('LEASE_CONFLICT');
    expect(recentReads).toBe(0);
  });

  it('only an agent the handoff is addressed to takes it, with a lease', () => {
    const s = boardWith([held()], [agentNamed('w'), agentNamed('x', 'worker', ['api']), agentNamed('d', 'worker', ['docs'])]);
    handOver(fakeTx(s, CONFIG, LATER), { history: noHistory, recent: () => [] }, meOf(s, 'w'), 'a', { to: null, notes: 'n', where, leaseToken: undefined });
    const tx = fakeTx(s, CONFIG, LATER);
    expect(refusedUnchanged(s, tx, () => takeHandoff(tx, meOf(s, 'd'), 'a'))).toEqual({ code: 'NOT_YOURS', message: 'The handoff of a is addressed to workers:api, not to d.', hint: 'baton handoffs --mine' });
    const take = takeHandoff(tx, meOf(s, 'x'), 'a');
    expect([take.task.status, take.task.assignee, s.handoffs.a!.state, s.handoffs.a!.taken_by]).toEqual(['in_progress', 'x', 'taken', 'x']);
    expect(tx.events[0]).toMatchObject({ type: 'handoff.taken', notify: { targets: ['agent:w'], kind: 'handoff-taken' } });
  });
});

describe('questions (rules/questions.ts)', () => {
  it('a question to the parent goes to the orchestrator once the parent has ended; it is answered once, within its choices', () => {
    const s = boardWith([], [agentNamed('lead', 'orchestrator'), agentNamed('child')]);
    s.sessions['s-child']!.parent = 's-lead';
    s.sessions['s-lead']!.ended_at = T0;
    const tx = fakeTx(s, CONFIG, LATER);
    const q = askQuestion(tx, meOf(s, 'child'), 'parent', 'Which database?', ['sqlite', 'postgres']);
    expect([q.to, tx.events[0]!.data]).toEqual(['orchestrator', expect.objectContaining({ redirected: 'parent session s-lead has ended' })]);
    expect(openQuestions(s).map((x) => x.id)).toEqual([q.id]);
    expect(refusal(() => answerQuestion(tx, q.id, 'mysql', 'lead'))).toMatchObject({ code: 'INVALID_INPUT', message: 'Answer one of the choices: sqlite, postgres.' });
    answerQuestion(tx, q.id, ' sqlite ', 'lead');
    expect([q.answer?.text, openQuestions(s)]).toEqual(['sqlite', []]);
    expect(tx.events.at(-1)).toMatchObject({ type: 'question.answered', notify: { targets: ['agent:child'], kind: 'answer', priority: 'high' } });
    const twice = fakeTx(s, CONFIG, LATER);
    expect(refusedUnchanged(s, twice, () => answerQuestion(twice, q.id, 'postgres', 'lead'))).toMatchObject({ code: 'INVALID_TRANSITION', message: `Question ${q.id} was answered already (${LATER} by lead).` });
  });

  it("a question whose asker's session ended is withdrawn: not open, and not answerable", () => {
    const s = boardWith([], [agentNamed('lead', 'orchestrator'), agentNamed('child')]);
    const q = askQuestion(fakeTx(s, CONFIG, LATER), meOf(s, 'child'), 'orchestrator', 'Go on?', []);
    s.sessions['s-child']!.ended_at = LATER;
    const tx = fakeTx(s, CONFIG, LATER);
    expect(openQuestions(s)).toEqual([]);
    expect(refusedUnchanged(s, tx, () => answerQuestion(tx, q.id, 'yes', 'lead'))).toMatchObject({ code: 'INVALID_TRANSITION', message: `Question ${q.id} was withdrawn: child's session ended before an answer.` });
  });
});

describe('notifications (rules/notifications.ts)', () => {
  const note = (seq: number, ts: string, text = 'same'): BatonEvent => ({ id: `e-${seq}`, seq, ts, revision: seq, type: 'message.sent', actor: 'w', session: 's-w', task: null, data: { text }, notify: { targets: ['all'], kind: 'message', priority: 'normal' } });

  it('folds identical notifications within a minute of the first, not after it, and not different ones', () => {
    const folded = fold([note(1, '2026-01-01T00:00:00.000Z'), note(2, '2026-01-01T00:00:30.000Z'), note(3, '2026-01-01T00:00:40.000Z', 'other'), note(4, '2026-01-01T00:01:10.000Z')]);
    expect(folded.map((n) => [n.first_seq, n.seq, n.count, n.text])).toEqual([[1, 2, 2, 'same'], [3, 3, 1, 'other'], [4, 4, 1, 'same']]);
  });

  it('an ack reaches the last notification shown, never past one it did not show, and never back', () => {
    const [a, b, c] = fold([note(1, T0, 'a'), note(2, T0, 'b'), note(3, T0, 'c')]);
    expect(ackable([a!, b!], [c!], 0)).toBe(2);
    // A repeat folded across the cut: its first seq is before the last shown.
    expect(ackable([a!, b!], [{ ...c!, first_seq: 2 }], 0)).toBe(1);
    expect(ackable([a!], [], 1)).toBeNull();
    expect(ackable([], [a!], 0)).toBeNull();
  });
});

describe('the archive (rules/archiving.ts)', () => {
  it('tombstones keep the last 30 days before the newest, at most 2,000, and both sides of a merge prune alike', () => {
    const map = { old: '2025-11-01T00:00:00.000Z', recent: '2025-12-20T00:00:00.000Z', newest: '2026-01-01T00:00:00.000Z' };
    expect(pruneTombstones(map)).toEqual({ newest: map.newest, recent: map.recent });
    expect(pruneTombstones({})).toBeUndefined();
    const many = Object.fromEntries(Array.from({ length: 2005 }, (_, i) => [`t${String(i).padStart(4, '0')}`, new Date(Date.parse(T0) + i * 1000).toISOString()]));
    const kept = pruneTombstones(many)!;
    expect([Object.keys(kept).length, Object.keys(kept)[0]]).toEqual([2000, 't0005']);
    expect(pruneTombstones({ ...many })).toEqual(kept);
  });

  it('finished tasks go to the archive after their days, oldest first; a child of a goal still open stays', () => {
    const s = boardWith(
      [
        task('g', { kind: 'goal', status: 'todo' }),
        task('child', { parent: 'g', status: 'done', updated_at: '2025-12-01T00:00:00.000Z' }),
        task('old', { status: 'cancelled', updated_at: '2025-12-02T00:00:00.000Z' }),
        task('older', { status: 'done', updated_at: '2025-11-30T00:00:00.000Z' }),
        task('fresh', { status: 'done', updated_at: '2025-12-31T00:00:00.000Z' }),
        task('open', { status: 'in_progress', updated_at: '2025-11-01T00:00:00.000Z' }),
      ],
      [],
    );
    expect(archivable(s, T0, 7).map((t) => t.id)).toEqual(['older', 'old']);
    expect(archivable(s, T0, 0).map((t) => t.id)).toEqual(['older', 'old', 'fresh']);
  });
});
