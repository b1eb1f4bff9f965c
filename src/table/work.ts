import type { Ctx } from '../commands/context.js';
import { BatonError } from '../core/errors.js';
import { arg, command, group, NUMBERS, opt } from './define.js';

const agents = () => import('../commands/agents.js');
const work = () => import('../commands/work.js');
const review = () => import('../commands/review.js');
const paths = () => import('../commands/paths.js');

/** claim --sync: the claim counts only once its push lands (moves into commands/work.ts). */
async function syncClaim<R extends { task: { id: string; assignee: string | null } }>(ctx: Ctx, r: R, doSync: boolean | undefined) {
  if (!doSync) return r;
  try {
    const s = await (await import('../commands/git.js')).sync({}, ctx, { task: r.task.id, agent: r.task.assignee ?? '' });
    return { ...r, revision: s.revision, synced: s };
  } catch (e) {
    if (e instanceof BatonError && e.code !== 'LEASE_CONFLICT') {
      await (await work()).release(r.task.id, { reason: `claim --sync could not push: ${e.code}` }, ctx).catch(() => undefined);
      e.details.released = r.task.id;
    }
    throw e;
  }
}

const leaseToken = opt.string('token', 'refuse unless this is still the current lease');
const watch = (what: string) => opt.number('seconds', NUMBERS.seconds, what);
const sync = opt.boolean('then baton sync: the claim counts only once its push lands (LEASE_CONFLICT if another machine won)');

/** Sessions, and the work loop of an agent: next, claim, done, review. */
export const workCommands = [
  command({
    name: 'join',
    summary: 'join the board as an agent: a new session and its token',
    options: {
      name: opt.string('name', 'agent name (the same name on the same host is the same agent)', { required: true }),
      role: opt.string('role', 'worker | reviewer | orchestrator', { required: true }),
      specialty: opt.string('list', 'comma-separated specialties (backend,docs,…)'),
      host: opt.string('host', 'host name (default: this machine)'),
      window: opt.string('window', 'terminal window or pane (default: BATON_WINDOW, TMUX_PANE)'),
      parent: opt.string('session', 'the session that spawned this one'),
      export: opt.boolean('print export lines for eval "$(baton join … --export)"'),
    },
    session: 'none',
    mutates: true,
    run: async (o, ctx) => (await agents()).join(o, ctx),
    text: async (r, o, ctx) => {
      const m = await agents();
      return o.export ? m.renderJoinExport(r, (await import('../commands/context.js')).boardDir(ctx)) : m.renderJoin(r);
    },
    textOnly: (o) => Boolean(o.export),
  }),
  command({
    name: 'leave',
    summary: 'end your session; your tasks go back to the queue',
    session: 'required',
    mutates: true,
    run: async (_o, ctx) => (await agents()).leave(ctx),
    text: async (r) => (await agents()).renderLeave(r),
  }),
  command({
    name: 'heartbeat',
    summary: 'say you are alive; renews your leases',
    options: { task: opt.string('id', "renew only this task's lease"), leaseToken },
    session: 'required',
    mutates: true,
    run: async (o, ctx) => (await agents()).heartbeat(o, ctx),
    text: async (r) => (await agents()).renderHeartbeat(r),
  }),
  command({
    name: 'agents',
    summary: 'agents, roles, specialties, what each holds',
    session: 'none',
    mutates: false,
    run: async (_o, ctx) => (await agents()).agents(ctx),
    text: async (r) => (await agents()).renderAgents(r),
  }),
  command({
    name: 'sessions',
    summary: 'sessions: host/window, lease state, parent session',
    options: { all: opt.boolean('include ended sessions') },
    session: 'none',
    mutates: false,
    run: async (o, ctx) => (await agents()).sessions(o, ctx),
    text: async (r) => (await agents()).renderSessions(r),
  }),
  command({
    name: 'reap',
    summary: 'take back expired leases and end stale sessions',
    session: 'none',
    mutates: true,
    run: async (_o, ctx) => (await agents()).reap(ctx),
    text: async (r) => (await agents()).renderReap(r),
  }),
  command({
    name: 'next',
    summary: 'the single best thing for you to do now (read-only)',
    options: {
      watch: watch('wait up to this long for "wait" to turn into something else'),
      explain: opt.boolean('show the ranking terms and why tasks were skipped'),
    },
    session: 'required',
    mutates: false,
    run: async (o, ctx) => (await work()).next(o, ctx),
    text: async (r) => (await work()).renderNext(r),
  }),
  command({
    name: 'claim',
    summary: 'claim a task: in progress, yours, with a lease',
    args: { id: arg.required() },
    options: { sync },
    session: 'required',
    mutates: true,
    run: async ({ id, sync }, ctx) => syncClaim(ctx, await (await work()).claim(id, ctx), sync),
    text: async (r) => (await work()).renderClaim(r),
  }),
  command({
    name: 'claim-next',
    summary: 'claim the best-ranked ready task for you (NO_WORK, exit 6, when none)',
    options: {
      specialty: opt.string('name', 'only tasks of this specialty'),
      watch: watch('wait up to this long for a task to become ready'),
      explain: opt.boolean('include the ranking terms'),
      sync,
    },
    session: 'required',
    mutates: true,
    run: async (o, ctx) => syncClaim(ctx, await (await work()).claimNext(o, ctx), o.sync),
    text: async (r) => (await work()).renderClaim(r),
  }),
  command({
    name: 'done',
    summary: 'finish your task (to review when the profile requires it)',
    args: { id: arg.required() },
    options: { notes: opt.string('text', 'what you did'), leaseToken },
    session: 'required',
    mutates: true,
    run: async ({ id, ...o }, ctx) => (await work()).done(id, o, ctx),
    text: (r) => (r.task.status === 'review' ? `${r.task.id} is done and waits for review.` : `${r.task.id} is done.`),
  }),
  command({
    name: 'release',
    summary: 'give a task back to the queue',
    args: { id: arg.required() },
    options: { reason: opt.string('text'), leaseToken },
    session: 'required',
    mutates: true,
    run: async ({ id, ...o }, ctx) => (await work()).release(id, o, ctx),
    text: (r) => `${r.task.id} is back in the queue (${r.task.status}).`,
  }),
  group('review', 'review work: next, start, approve, reject'),
  command({
    name: 'review next',
    summary: 'start reviewing the next task waiting for you (NO_WORK, exit 6, when none)',
    options: { watch: watch('wait up to this long for one') },
    session: 'required',
    mutates: true,
    run: async (o, ctx) => (await review()).next(o, ctx),
    text: async (r) => (await review()).renderReview(r),
  }),
  command({
    name: 'review start',
    summary: 'start reviewing a task',
    args: { id: arg.required() },
    session: 'required',
    mutates: true,
    run: async ({ id }, ctx) => (await review()).start(id, ctx),
    text: async (r) => (await review()).renderReview(r),
  }),
  command({
    name: 'review approve',
    summary: 'approve: the task is done',
    args: { id: arg.required() },
    options: { notes: opt.string('text'), leaseToken: opt.string('token') },
    session: 'required',
    mutates: true,
    run: async ({ id, ...o }, ctx) => (await review()).verdict('approve', id, o, ctx),
    text: (r) => `${r.task.id} approved: done.`,
  }),
  command({
    name: 'review reject',
    summary: 'send it back to its author with what must change',
    args: { id: arg.required() },
    options: { notes: opt.string('text', 'what must change', { required: true }), leaseToken: opt.string('token') },
    session: 'required',
    mutates: true,
    run: async ({ id, ...o }, ctx) => (await review()).verdict('reject', id, o, ctx),
    text: (r) => `${r.task.id} sent back to ${r.task.assignee ?? 'its author'}.`,
  }),
  group('paths', 'who holds which paths'),
  command({
    name: 'paths check',
    summary: 'which tasks in flight hold these paths',
    args: { paths: arg.words() },
    session: 'none',
    mutates: false,
    run: async (o, ctx) => (await paths()).check(o.paths, ctx),
    text: async (r) => (await paths()).renderCheck(r),
  }),
  command({
    name: 'paths infer',
    summary: "candidate owned paths from this branch's git changes",
    args: { id: arg.required() },
    session: 'optional',
    mutates: true,
    run: async ({ id }, ctx) => (await paths()).infer(id, ctx),
    text: async (r) => (await paths()).renderInfer(r),
  }),
];
