import { arg, command, NUMBERS, opt } from './define.js';

const results = () => import('./answerschemas.js');

const events = () => import('../commands/events.js');
const inbox = () => import('../commands/inbox.js');
const handoffs = () => import('../commands/handoffs.js');

const leaseToken = opt.string('token');

/** The event log, notifications, messages and handoffs. */
export const messageCommands = [
  command({
    name: 'events',
    summary: 'the event log: read, follow, ack cursors, prune, archives',
    options: {
      since: opt.number('seq', NUMBERS.seq, 'events after this seq'),
      limit: opt.number('n', NUMBERS.count, 'at most this many (default 1000)'),
      type: opt.string('type', 'only this type (a trailing dot matches a family: task.)'),
      task: opt.string('id', "only this task's events"),
      cursor: opt.string('name', 'start after this named cursor (see events ack)'),
      watch: opt.number('seconds', NUMBERS.seconds, 'wait up to this long for an event when there is none'),
      follow: { ...opt.boolean('stream events, one a line, until interrupted'), cli: true },
    },
    session: 'none',
    mutates: false,
    run: async (o, ctx, io) => {
      const m = await events();
      return m.list(o, ctx, o.follow ? { emit: (e) => io.emit({ text: m.renderEvent(e), json: e }), quit: io.quit } : undefined);
    },
    text: async (r) => (await events()).renderList(r),
    stream: { when: (o) => Boolean(o.follow) },
  }),
  command({
    name: 'events ack',
    summary: 'move a named cursor (the board revision does not change)',
    options: {
      cursor: opt.string('name', 'the cursor to move (required)'),
      to: opt.number('seq', NUMBERS.seq, 'up to this seq (default: the last event)'),
    },
    session: 'none',
    idempotent: true,
    mutates: true,
    run: async (o, ctx) => (await events()).ack(o, ctx),
    text: async (r) => (await events()).renderAck(r),
  }),
  command({
    name: 'events prune',
    summary: 'move old events to archive/events/ (never deletes)',
    options: {
      maxRows: opt.number('n', NUMBERS.count, 'keep at most this many in events.jsonl'),
      maxAgeDays: opt.number('d', NUMBERS.days, 'move events older than this'),
    },
    session: 'none',
    mutates: true,
    run: async (o, ctx) => (await events()).prune(o, ctx),
    text: async (r) => (await events()).renderPrune(r),
  }),
  command({
    name: 'events archives',
    summary: 'list archived event files',
    session: 'none',
    mutates: false,
    run: async (_o, ctx) => (await events()).archives(ctx),
    text: async (r) => (await events()).renderArchives(r),
  }),
  command({
    name: 'inbox',
    summary: 'your unacked notifications (reading never consumes them)',
    options: {
      watch: opt.number('seconds', NUMBERS.seconds, 'wait up to this long for one when there is none'),
      kind: opt.string('kind', 'only this kind (message, review-ready, handoff-ready, …)'),
      all: opt.boolean('include acked ones'),
      limit: opt.number('n', NUMBERS.count, 'at most this many, oldest first (default and most 500; truncated: true when more wait)'),
      ack: opt.boolean('then mark what this answer shows read (as inbox ack --to its last seq)'),
    },
    session: 'required',
    tool: 'core',
    idempotent: true,
    mutates: true,
    result: async () => (await results()).inbox(),
    run: async (o, ctx) => (await inbox()).inbox(o, ctx),
    text: async (r) => (await inbox()).renderInbox(r),
  }),
  command({
    name: 'inbox ack',
    summary: 'hide notifications up to a seq (default: all so far); the revision stays',
    options: { to: opt.number('seq', NUMBERS.seq) },
    session: 'required',
    idempotent: true,
    mutates: true,
    run: async (o, ctx) => (await inbox()).inboxAck(o, ctx),
    text: async (r) => (await inbox()).renderInboxAck(r),
  }),
  command({
    name: 'send',
    summary: 'message an agent, a role, role:specialty, the orchestrator or all',
    args: { message: arg.text() },
    options: {
      to: opt.string('target', 'agent:ID | workers | reviewers | orchestrator | all | workers:SPEC | reviewers:SPEC', { required: true }),
      priority: opt.string('p', 'low | normal | high', { default: 'normal' }),
    },
    session: 'required',
    tool: 'core',
    mutates: true,
    result: async () => (await results()).send(),
    run: async ({ message, ...o }, ctx) => (await inbox()).send(o, message, ctx),
    text: async (r) => (await inbox()).renderSend(r),
  }),
  command({
    name: 'ask',
    summary: 'stop at a decision and ask your parent, the orchestrator or an agent (a question they answer with baton answer)',
    args: { question: arg.text() },
    options: {
      to: opt.string('target', 'parent | orchestrator | agent:ID (a parent that has ended passes it to the orchestrator)', { required: true }),
      choices: opt.string('a,b', 'the answers allowed, comma-separated'),
      watch: opt.number('seconds', NUMBERS.seconds, 'wait this long for the answer (without it: return the question id at once)'),
    },
    session: 'required',
    // Not core (a worker's loop is at most ten tools): a child that stops at checkpoints runs `baton mcp --tools core,ask`.
    tool: 'orchestrator',
    mutates: true,
    run: async ({ question, ...o }, ctx) => (await inbox()).ask(question, o, ctx),
    text: async (r) => (await inbox()).renderAsk(r),
  }),
  command({
    name: 'answer',
    summary: 'answer a question an agent asked (baton ask)',
    args: { id: arg.required('the question id (q-…)'), answer: arg.text() },
    session: 'optional',
    tool: 'orchestrator',
    mutates: true,
    run: async ({ id, answer }, ctx) => (await inbox()).answer(id, answer, ctx),
    text: async (r) => (await inbox()).renderAnswer(r),
  }),
  command({
    name: 'handoff',
    summary: 'hand your task to another agent with a bundle of what they need',
    args: { id: arg.required() },
    options: {
      to: opt.string('target', "agent:ID | role | role:specialty (default: workers of the task's specialty)"),
      notes: opt.string('text', 'what is done, what is left (required)'),
      leaseToken,
    },
    session: 'required',
    tool: 'core',
    mutates: true,
    result: async () => (await results()).handoff(),
    run: async ({ id, ...o }, ctx) => (await handoffs()).handoff(id, o, ctx),
    text: async (r) => (await handoffs()).renderHandoff(r),
  }),
  command({
    name: 'handoff next',
    summary: 'take the oldest handoff addressed to you (NO_WORK, exit 6, when none)',
    options: { watch: opt.number('seconds', NUMBERS.seconds) },
    session: 'required',
    tool: 'orchestrator',
    mutates: true,
    run: async (o, ctx) => (await handoffs()).next(o, ctx),
    text: async (r) => (await handoffs()).renderTake(r),
  }),
  command({
    name: 'handoff take',
    summary: 'take a handed-off task: yours, with a lease',
    args: { id: arg.required() },
    session: 'required',
    tool: 'orchestrator',
    mutates: true,
    run: async ({ id }, ctx) => (await handoffs()).takeCommand(id, ctx),
    text: async (r) => (await handoffs()).renderTake(r),
  }),
  command({
    name: 'handoff ack',
    summary: 'mark a handoff read (without taking it)',
    args: { id: arg.required() },
    session: 'required',
    idempotent: true,
    mutates: true,
    run: async ({ id }, ctx) => (await handoffs()).ack(id, ctx),
    text: async (r) => (await handoffs()).renderAck(r),
  }),
  command({
    name: 'handoffs',
    summary: 'open handoffs (--mine: those addressed to you)',
    options: { mine: opt.boolean(), all: opt.boolean('include taken ones'), limit: opt.number('n', NUMBERS.count, 'at most this many (the answer says truncated: true when more matched)') },
    session: 'optional',
    tool: 'orchestrator',
    mutates: false,
    run: async (o, ctx) => (await handoffs()).list(o, ctx),
    text: async (r) => (await handoffs()).renderList(r),
  }),
];
