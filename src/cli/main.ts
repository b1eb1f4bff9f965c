import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { BatonError } from '../core/errors.js';
import { checkKey } from '../core/idempotency.js';
import type { Ctx } from '../commands/context.js';
import { detectColor, escapeTerminal, type OutputMode, printFailure, printSuccess } from './output.js';

const VERSION = '0.1.0';
const argv = process.argv.slice(2);
const mode: OutputMode = { json: argv.includes('--json'), color: detectColor(argv, process.env, Boolean(process.stdout.isTTY)) };
let exitCode = 0;

/**
 * A reader that stops early (`baton list | head -1`) closes the pipe: that ends the output, not
 * the command. A write into the closed pipe fails with EPIPE; the command still runs to its end
 * (a mutation is never cut short between its lock and its commit) and exits with its own code,
 * the rest of its output dropped. Output that never ends by itself (events --follow, watch) is a
 * read, and stops at once.
 */
let endWhenOutputCloses = false;
function onOutputError(e: NodeJS.ErrnoException): void {
  if (e.code !== 'EPIPE') throw e;
  if (endWhenOutputCloses) process.exit(exitCode);
}
process.stdout.on('error', onOutputError);
process.stderr.on('error', onOutputError);

/** watch draws with cursor controls at the start of a write: they are baton's, the text after them is escaped. */
const escapeDrawing = (s: string): string => {
  const controls = /^(?:\u001b\[[0-9;?]*[A-Za-z])*/.exec(s)![0];
  return controls + escapeTerminal(s.slice(controls.length));
};

// dist/main.js → the package root, where templates/ lives.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

type Result = Record<string, unknown> & { revision: number };

function globals(cmd: Command): Ctx {
  const o = cmd.optsWithGlobals() as { dir?: string; lockTimeout?: string; expectedRevision?: string; session?: string; token?: string; idempotencyKey?: string };
  const lockTimeout = o.lockTimeout === undefined ? 10 : Number(o.lockTimeout);
  if (!Number.isFinite(lockTimeout) || lockTimeout < 0) throw new BatonError('USAGE', `Invalid --lock-timeout '${o.lockTimeout}': give seconds, e.g. 10.`);
  let expectedRevision: number | undefined;
  if (o.expectedRevision !== undefined) {
    expectedRevision = Number(o.expectedRevision);
    if (!Number.isInteger(expectedRevision) || expectedRevision < 0) {
      throw new BatonError('USAGE', `Invalid --expected-revision '${o.expectedRevision}': give the board revision, a whole number.`);
    }
  }
  return {
    cwd: process.cwd(),
    env: process.env,
    dir: o.dir,
    lockTimeoutMs: lockTimeout * 1000,
    expectedRevision,
    packageRoot,
    creds: { session: o.session ?? process.env.BATON_SESSION, token: o.token ?? process.env.BATON_TOKEN },
    warnings: [],
    idempotencyKey: o.idempotencyKey === undefined ? undefined : checkKey(o.idempotencyKey),
    command: commandPath(cmd),
    onTiming: process.env.BATON_TIMINGS === '1' ? (t) => process.stderr.write(`baton-timing ${JSON.stringify(t)}\n`) : undefined,
  };
}

/** Options that say how to run a command, not what it does: a retry may change them. */
const HOW = new Set(['json', 'color', 'lockTimeout', 'expectedRevision', 'idempotencyKey', 'session', 'token', 'dir']);

/** What a command was asked to do (its arguments and own options), for an idempotency key's record. */
function callOf(positional: unknown[]): string {
  const what = positional.map((a) => (a && typeof a === 'object' && !Array.isArray(a) ? Object.fromEntries(Object.entries(a).filter(([k]) => !HOW.has(k)).sort(([x], [y]) => (x < y ? -1 : 1))) : a));
  return createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 32);
}

/** The command's full name, as typed: `review approve`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Wraps a command body: runs it, prints the result (JSON or text), records the exit code. */
function action<A extends unknown[]>(body: (ctx: Ctx, ...args: A) => Promise<{ result: Result; text: () => string | null; printed?: boolean }>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const positional = args.slice(0, -1) as A;
    // A parent's option of the same name (events --cursor vs events ack --cursor) is parsed by
    // the parent: hand the command its own options merged over its parents'.
    const own = positional[positional.length - 1];
    if (own && typeof own === 'object' && !Array.isArray(own)) positional[positional.length - 1] = { ...cmd.optsWithGlobals(), ...own };
    try {
      const ctx = globals(cmd);
      if (ctx.idempotencyKey) ctx.call = callOf(positional);
      const { result, text, printed } = await body(ctx, ...positional);
      if (!printed) await printSuccess(ctx.replayed ? { ...result, replayed: true } : result, mode, mode.json ? null : text(), ctx.replayed ? ['this key was used before: the change was already committed, and this is its first answer', ...ctx.warnings] : ctx.warnings);
    } catch (e) {
      exitCode = printFailure(e, mode, process.env);
    }
  };
}

/** The common shape of a command: lazily load its module, run, and say how to render it. */
function wire<M, R extends object>(loadModule: () => Promise<M>, call: (m: M, ctx: Ctx, ...args: any[]) => Promise<R>, text: (m: M, r: R) => string) {
  return action(async (ctx, ...args: unknown[]) => {
    const m = await loadModule();
    const r = await call(m, ctx, ...args);
    return { result: r as unknown as Result, text: () => text(m, r) };
  });
}

const agentsModule = () => import('../commands/agents.js');
const workModule = () => import('../commands/work.js');
const reviewModule = () => import('../commands/review.js');
const pathsModule = () => import('../commands/paths.js');
const eventsModule = () => import('../commands/events.js');
const inboxModule = () => import('../commands/inbox.js');
const handoffsModule = () => import('../commands/handoffs.js');

/** Repeatable flag that also accepts commas: --label a --label b,c */
const collect = (v: string, prev: string[] = []) => [...prev, v];

function build(): Command {
  const program = new Command('baton');
  program
    .description('A coordination board for teams of coding agents: project-plan/ with no server.')
    .version(VERSION, '-V, --version')
    .option('--json', 'print exactly one JSON document on stdout')
    .option('--dir <path>', 'the board directory (default: BATON_DIR, then the nearest project-plan/)')
    .option('--no-color', 'no colours in human output')
    .option('--lock-timeout <seconds>', 'how long to wait for the board lock', '10')
    .option('--expected-revision <n>', 'refuse (REVISION_CONFLICT) unless the board is at this revision')
    .option('--idempotency-key <key>', 'a retry with the same key returns the first answer instead of changing the board again')
    .option('--session <id>', 'act as this session (default: BATON_SESSION)')
    .option('--token <token>', "the session's token (default: BATON_TOKEN)")
    .showSuggestionAfterError(true)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: () => {
        /* commander's errors are reported by our own handler below */
      },
    });

  program
    .command('init')
    .description('create a board in ./project-plan (or --dir)')
    .option('--name <name>', 'project name shown on the board')
    .option('--profile <profile>', 'safe | balanced | throughput', 'balanced')
    .option('--agents-md', 'add (or refresh) the baton section of AGENTS.md, and CLAUDE.md if present')
    .action(
      action(async (ctx, o: { name?: string; profile?: string; agentsMd?: boolean }) => {
        const m = await import('../commands/init.js');
        const r = await m.run(o, ctx);
        return { result: r as unknown as Result, text: () => m.renderText(r) };
      }),
    );

  program
    .command('status')
    .description('the board at a glance')
    .action(
      action(async (ctx) => {
        const m = await import('../commands/board.js');
        const r = await m.status(ctx);
        return { result: r as unknown as Result, text: () => m.renderStatus(r) };
      }),
    );

  program
    .command('render')
    .description('regenerate STATUS.md and the other generated files')
    .action(
      action(async (ctx) => {
        const m = await import('../commands/board.js');
        const r = await m.render(ctx);
        return { result: r as unknown as Result, text: () => m.renderRender(r) };
      }),
    );

  program
    .command('doctor')
    .description('check the board; --repair fixes what a crash left behind')
    .option('--repair', 'truncate a crashed writer\'s events, remove temp files and dead locks, regenerate files')
    .action(
      action(async (ctx, o: { repair?: boolean }) => {
        const m = await import('../commands/board.js');
        const r = await m.doctor(o, ctx);
        return { result: r as unknown as Result, text: () => m.renderDoctor(r) };
      }),
    );

  program
    .command('add')
    .description('add a task')
    .argument('<title>', 'short title')
    .option('--id <id>', 'your own id (default: a short random one)')
    .option('--priority <P>', 'P0 (most urgent) .. P3', 'P2')
    .option('--specialty <name>', 'which kind of agent should take it')
    .option('--depends-on <ids>', 'comma-separated task ids that must be done first')
    .option('--paths <globs>', 'comma-separated paths/globs this task owns')
    .option('--estimate <n>', 'relative size (default 1)')
    .option('--parent <id>', 'parent goal')
    .option('--kind <kind>', 'task | goal | gate')
    .option('--gate-type <type>', 'for --kind gate: the signal type it waits for (ci, review, human_approval, …)')
    .option('--match <k=v,...>', 'for --kind gate: fields a signal must carry')
    .option('--review', 'require review before done')
    .option('--no-review', 'no review needed')
    .option('--description <text>', 'longer description')
    .option('--label <label>', 'label (repeatable, or comma-separated)', collect)
    .action(
      action(async (ctx, title: string, o) => {
        const m = await import('../commands/tasks.js');
        const r = await m.add(title, o as never, ctx);
        return { result: r as unknown as Result, text: () => m.renderTask(r) };
      }),
    );

  program
    .command('import')
    .description('create or update tasks from a YAML or JSON plan (idempotent; - reads stdin)')
    .argument('<file>', 'plan file: a list of tasks, or {tasks: [...]}')
    .action(
      action(async (ctx, file: string) => {
        const m = await import('../commands/import.js');
        const r = await m.run(file, ctx);
        return { result: r as unknown as Result, text: () => m.renderText(r) };
      }),
    );

  program
    .command('list')
    .description('list tasks')
    .option('--status <list>', 'only these statuses (comma-separated)')
    .option('--specialty <name>', 'only this specialty')
    .option('--assignee <agent>', 'only tasks held by this agent')
    .option('--kind <list>', 'only these kinds')
    .option('--label <label>', 'only tasks with this label')
    .option('--ready', 'only ready tasks, best first')
    .action(
      action(async (ctx, o) => {
        const m = await import('../commands/tasks.js');
        const r = await m.list(o as never, ctx);
        return { result: r as unknown as Result, text: () => m.renderList(r) };
      }),
    );

  program
    .command('show')
    .description('one task with its history')
    .argument('<id>')
    .action(
      action(async (ctx, id: string) => {
        const m = await import('../commands/tasks.js');
        const r = await m.show(id, ctx);
        return { result: r as unknown as Result, text: () => m.renderShow(r) };
      }),
    );

  program
    .command('edit')
    .description('change a task\'s fields')
    .argument('<id>')
    .option('--title <text>')
    .option('--description <text>', '"" clears it')
    .option('--priority <P>')
    .option('--specialty <name>', '"" clears it')
    .option('--depends-on <ids>', 'replace the dependencies ("" clears them)')
    .option('--paths <globs>', 'replace the owned paths')
    .option('--estimate <n>')
    .option('--parent <id>', '"" clears it')
    .option('--label <label>', 'replace the labels (repeatable or comma-separated)', collect)
    .option('--add-label <label>', 'add a label (repeatable)', collect)
    .option('--rm-label <label>', 'remove a label (repeatable)', collect)
    .option('--review', 'require review')
    .option('--no-review', 'no review needed')
    .option('--confirm-paths', 'turn candidate_owned_paths into owned_paths')
    .option('--confirm-deps', 'turn candidate_depends_on into depends_on')
    .action(
      action(async (ctx, id: string, o) => {
        const m = await import('../commands/tasks.js');
        const r = await m.edit(id, o as never, ctx);
        return { result: r as unknown as Result, text: () => m.renderEdit(r) };
      }),
    );

  const dep = program.command('dep').description('add or remove a dependency');
  for (const act of ['add', 'rm'] as const) {
    dep
      .command(act)
      .description(act === 'add' ? 'ID waits for DEP' : 'ID no longer waits for DEP')
      .argument('<id>')
      .argument('<dep>')
      .action(
        action(async (ctx, id: string, d: string) => {
          const m = await import('../commands/tasks.js');
          const r = await m.dep(act, id, d, ctx);
          return { result: r as unknown as Result, text: () => m.renderTask(r) };
        }),
      );
  }

  program
    .command('block')
    .description('mark a task blocked, with the reason')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why it is blocked')
    .action(
      action(async (ctx, id: string, o: { reason?: string }) => {
        const m = await import('../commands/tasks.js');
        const r = await m.block(id, o.reason, ctx);
        return { result: r as unknown as Result, text: () => m.renderTask(r) };
      }),
    );

  program
    .command('unblock')
    .description('put a blocked task back where it was')
    .argument('<id>')
    .action(
      action(async (ctx, id: string) => {
        const m = await import('../commands/tasks.js');
        const r = await m.unblock(id, ctx);
        return { result: r as unknown as Result, text: () => m.renderTask(r) };
      }),
    );

  program
    .command('cancel')
    .description('cancel a task (its dependents stop waiting for it)')
    .argument('<id>')
    .option('--reason <text>')
    .action(
      action(async (ctx, id: string, o: { reason?: string }) => {
        const m = await import('../commands/tasks.js');
        const r = await m.cancel(id, o.reason, ctx);
        return { result: r as unknown as Result, text: () => m.renderTask(r) };
      }),
    );

  // ---------------------------------------------------------------- working
  program
    .command('join')
    .description('join the board as an agent: a new session and its token')
    .requiredOption('--name <name>', 'agent name (the same name on the same host is the same agent)')
    .requiredOption('--role <role>', 'worker | reviewer | orchestrator')
    .option('--specialty <list>', 'comma-separated specialties (backend,docs,…)')
    .option('--host <host>', 'host name (default: this machine)')
    .option('--window <window>', 'terminal window or pane (default: BATON_WINDOW, TMUX_PANE)')
    .option('--parent <session>', 'the session that spawned this one')
    .option('--export', 'print export lines for eval "$(baton join … --export)"')
    .action(
      action(async (ctx, o: import("../commands/agents.js").JoinOptions & { export?: boolean }) => {
        const m = await agentsModule();
        const r = await m.join(o, ctx);
        if (o.export) {
          process.stdout.write(`${m.renderJoinExport(r, (await import('../commands/context.js')).boardDir(ctx))}\n`);
          return { result: r as unknown as Result, text: () => null, printed: true };
        }
        return { result: r as unknown as Result, text: () => m.renderJoin(r) };
      }),
    );

  program.command('leave').description('end your session; your tasks go back to the queue').action(wire(agentsModule, (m, ctx) => m.leave(ctx), (m, r) => m.renderLeave(r)));

  program
    .command('heartbeat')
    .description('say you are alive; renews your leases')
    .option('--task <id>', 'renew only this task\'s lease')
    .option('--lease-token <token>', 'refuse unless this is still the current lease')
    .action(wire(agentsModule, (m, ctx, o) => m.heartbeat(o, ctx), (m, r) => m.renderHeartbeat(r)));

  program.command('agents').description('agents, roles, specialties, what each holds').action(wire(agentsModule, (m, ctx) => m.agents(ctx), (m, r) => m.renderAgents(r)));

  program
    .command('sessions')
    .description('sessions: host/window, lease state, parent session')
    .option('--all', 'include ended sessions')
    .action(wire(agentsModule, (m, ctx, o) => m.sessions(o, ctx), (m, r) => m.renderSessions(r)));

  program.command('reap').description('take back expired leases and end stale sessions').action(wire(agentsModule, (m, ctx) => m.reap(ctx), (m, r) => m.renderReap(r)));

  program
    .command('next')
    .description('the single best thing for you to do now (read-only)')
    .option('--watch <seconds>', 'wait up to this long for "wait" to turn into something else')
    .option('--explain', 'show the ranking terms and why tasks were skipped')
    .action(wire(workModule, (m, ctx, o) => m.next(o, ctx), (m, r) => m.renderNext(r)));

  program
    .command('claim')
    .description('claim a task: in progress, yours, with a lease')
    .argument('<id>')
    .option('--sync', 'then baton sync: the claim counts only once its push lands (LEASE_CONFLICT if another machine won)')
    .action(wire(workModule, (m, ctx, id: string, o: { sync?: boolean }) => m.claim(id, o, ctx), (m, r) => m.renderClaim(r)));

  program
    .command('claim-next')
    .description('claim the best-ranked ready task for you (NO_WORK, exit 6, when none)')
    .option('--specialty <name>', 'only tasks of this specialty')
    .option('--watch <seconds>', 'wait up to this long for a task to become ready')
    .option('--explain', 'include the ranking terms')
    .option('--sync', 'then baton sync: the claim counts only once its push lands (LEASE_CONFLICT if another machine won)')
    .action(wire(workModule, (m, ctx, o) => m.claimNext(o, ctx), (m, r) => m.renderClaim(r)));

  program
    .command('done')
    .description('finish your task (to review when the profile requires it)')
    .argument('<id>')
    .option('--notes <text>', 'what you did')
    .option('--lease-token <token>', 'refuse unless this is still the current lease')
    .action(wire(workModule, (m, ctx, id: string, o) => m.done(id, o, ctx), (_m, r) => (r.task.status === 'review' ? `${r.task.id} is done and waits for review.` : `${r.task.id} is done.`)));

  program
    .command('release')
    .description('give a task back to the queue')
    .argument('<id>')
    .option('--reason <text>')
    .option('--lease-token <token>', 'refuse unless this is still the current lease')
    .action(wire(workModule, (m, ctx, id: string, o) => m.release(id, o, ctx), (_m, r) => `${r.task.id} is back in the queue (${r.task.status}).`));

  const review = program.command('review').description('review work: next, start, approve, reject');
  review
    .command('next')
    .description('start reviewing the next task waiting for you (NO_WORK, exit 6, when none)')
    .option('--watch <seconds>', 'wait up to this long for one')
    .action(wire(reviewModule, (m, ctx, o) => m.next(o, ctx), (m, r) => m.renderReview(r)));
  review
    .command('start')
    .description('start reviewing a task')
    .argument('<id>')
    .action(wire(reviewModule, (m, ctx, id: string) => m.start(id, ctx), (m, r) => m.renderReview(r)));
  review
    .command('approve')
    .description('approve: the task is done')
    .argument('<id>')
    .option('--notes <text>')
    .option('--lease-token <token>')
    .action(wire(reviewModule, (m, ctx, id: string, o) => m.verdict('approve', id, o, ctx), (_m, r) => `${r.task.id} approved: done.`));
  review
    .command('reject')
    .description('send it back to its author with what must change')
    .argument('<id>')
    .requiredOption('--notes <text>', 'what must change')
    .option('--lease-token <token>')
    .action(wire(reviewModule, (m, ctx, id: string, o) => m.verdict('reject', id, o, ctx), (_m, r) => `${r.task.id} sent back to ${r.task.assignee ?? 'its author'}.`));

  const paths = program.command('paths').description('who holds which paths');
  paths
    .command('check')
    .description('which tasks in flight hold these paths')
    .argument('<paths...>')
    .action(wire(pathsModule, (m, ctx, p: string[]) => m.check(p, ctx), (m, r) => m.renderCheck(r)));
  paths
    .command('infer')
    .description('candidate owned paths from this branch\'s git changes')
    .argument('<id>')
    .action(wire(pathsModule, (m, ctx, id: string) => m.infer(id, ctx), (m, r) => m.renderInfer(r)));

  // ---------------------------------------------------------------- signals
  const events = program
    .command('events')
    .description('the event log: read, follow, ack cursors, prune, archives')
    .option('--since <seq>', 'events after this seq')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--type <type>', 'only this type (a trailing dot matches a family: task.)')
    .option('--task <id>', 'only this task\'s events')
    .option('--cursor <name>', 'start after this named cursor (see events ack)')
    .option('--watch <seconds>', 'wait up to this long for an event when there is none')
    .option('--follow', 'stream events, one a line, until interrupted')
    .action(
      action(async (ctx, o: import('../commands/events.js').EventsOptions) => {
        const m = await eventsModule();
        if (o.follow) {
          const stop = () => process.exit(0);
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
          endWhenOutputCloses = true;
          await m.list(o, ctx, (e) => process.stdout.write(`${mode.json ? JSON.stringify(e) : escapeTerminal(m.renderEvent(e))}\n`));
        }
        const r = await m.list(o, ctx);
        return { result: r as unknown as Result, text: () => m.renderList(r) };
      }),
    );
  events
    .command('ack')
    .description('move a named cursor (the board revision does not change)')
    .option('--cursor <name>', 'the cursor to move (required)')
    .option('--to <seq>', 'up to this seq (default: the last event)')
    .action(wire(eventsModule, (m, ctx, o) => m.ack(o, ctx), (m, r) => m.renderAck(r)));
  events
    .command('prune')
    .description('move old events to archive/events/ (never deletes)')
    .option('--max-rows <n>', 'keep at most this many in events.jsonl')
    .option('--max-age-days <d>', 'move events older than this')
    .action(wire(eventsModule, (m, ctx, o) => m.prune(o, ctx), (m, r) => m.renderPrune(r)));
  events.command('archives').description('list archived event files').action(wire(eventsModule, (m, ctx) => m.archives(ctx), (m, r) => m.renderArchives(r)));

  const inbox = program
    .command('inbox')
    .description('your unacked notifications (reading never consumes them)')
    .option('--watch <seconds>', 'wait up to this long for one when there is none')
    .option('--kind <kind>', 'only this kind (message, review-ready, handoff-ready, …)')
    .option('--all', 'include acked ones')
    .action(wire(inboxModule, (m, ctx, o) => m.inbox(o, ctx), (m, r) => m.renderInbox(r)));
  inbox
    .command('ack')
    .description('hide notifications up to a seq (default: all so far); the revision stays')
    .option('--to <seq>')
    .action(wire(inboxModule, (m, ctx, o) => m.inboxAck(o, ctx), (_m, r) => `Inbox of ${r.agent} acked up to ${r.acked}.`));

  program
    .command('send')
    .description('message an agent, a role, role:specialty, the orchestrator or all')
    .requiredOption('--to <target>', 'agent:ID | workers | reviewers | orchestrator | all | workers:SPEC | reviewers:SPEC')
    .option('--priority <p>', 'low | normal | high', 'normal')
    .argument('<message...>')
    .action(wire(inboxModule, (m, ctx, words: string[], o) => m.send(o, words.join(' '), ctx), (m, r) => m.renderSend(r)));

  const handoff = program
    .command('handoff')
    .description('hand your task to another agent with a bundle of what they need')
    .argument('<id>')
    .option('--to <target>', 'agent:ID | role | role:specialty (default: workers of the task\'s specialty)')
    .option('--notes <text>', 'what is done, what is left (required)')
    .option('--lease-token <token>')
    .action(wire(handoffsModule, (m, ctx, id: string, o) => m.handoff(id, o, ctx), (m, r) => m.renderHandoff(r)));
  handoff
    .command('next')
    .description('take the oldest handoff addressed to you (NO_WORK, exit 6, when none)')
    .option('--watch <seconds>')
    .action(wire(handoffsModule, (m, ctx, o) => m.next(o, ctx), (m, r) => m.renderTake(r)));
  handoff
    .command('take')
    .description('take a handed-off task: yours, with a lease')
    .argument('<id>')
    .action(wire(handoffsModule, (m, ctx, id: string) => m.takeCommand(id, ctx), (m, r) => m.renderTake(r)));
  handoff
    .command('ack')
    .description('mark a handoff read (without taking it)')
    .argument('<id>')
    .action(wire(handoffsModule, (m, ctx, id: string) => m.ack(id, ctx), (_m, r) => `Marked the handoff of ${r.handoff.task} read.`));
  const orchestrator = program.command('orchestrator').description('the one canonical orchestrator session');
  orchestrator
    .command('start')
    .description('make or reuse the canonical <project>-orchestrator session')
    .option('--relaunch', 'end the old one (its leases released) and start fresh')
    .option('--export', 'print export lines for eval')
    .action(
      action(async (ctx, o: { relaunch?: boolean; export?: boolean }) => {
        const m = await import('../commands/orchestrate.js');
        const r = await m.start(o, ctx);
        if (o.export && r.token) {
          const a = await agentsModule();
          process.stdout.write(`${a.renderJoinExport({ ...r, token: r.token }, (await import('../commands/context.js')).boardDir(ctx))}\n`);
          return { result: r as unknown as Result, text: () => null, printed: true };
        }
        return { result: r as unknown as Result, text: () => m.renderStart(r) };
      }),
    );

  program
    .command('prompt')
    .description('the full primer for a role, ready to give an agent')
    .argument('<role>', 'worker | reviewer | orchestrator')
    .option('--task <id>', 'include this task')
    .action(wire(() => import('../commands/orchestrate.js'), (m, ctx, role: string, o) => m.prompt(role, o, ctx), (_m, r) => r.prompt.trimEnd()));

  const spawnModule = () => import('../commands/spawn.js');
  program
    .command('spawn')
    .description('start a sub-agent on a task (claimed for its new child session) with a ready prompt')
    .argument('[id]', 'the task to give it')
    .option('--next', 'the best-ranked ready task')
    .option('--agent <name>', 'which command from config.yaml spawn.agents')
    .option('--role <role>', 'worker (default) or reviewer (no task claimed)')
    .option('--specialty <list>', 'specialties of the child agent')
    .option('--name <name>', 'the child agent\'s name (default: <agent>-<random>)')
    .option('--worktree', 'a git worktree of its own, on branch worker/<session>')
    .option('--no-worktree', 'work in the main checkout')
    .action(wire(spawnModule, (m, ctx, id: string | undefined, o) => m.spawn(id, o, ctx), (m, r) => m.renderSpawn(r)));
  program
    .command('ps')
    .description('spawned agents: state, pid, task, exit, log')
    .option('--all', 'include those that ended over an hour ago')
    .action(wire(spawnModule, (m, ctx, o) => m.ps(o, ctx), (m, r) => m.renderPs(r)));
  program
    .command('wait')
    .description('wait until a spawned agent (by session or task) exits')
    .argument('<session-or-task>')
    .option('--timeout <seconds>', 'give up after this long (finished: false)')
    .action(wire(spawnModule, (m, ctx, ref: string, o) => m.wait(ref, o, ctx), (_m, r) => `${r.child.session} ${r.finished ? `exited (${r.child.signal ?? r.child.exit_code})` : 'still running'}${r.task ? `; ${r.task.id} is ${r.task.status}` : ''}`));
  program
    .command('kill')
    .description('stop a spawned agent (SIGTERM to its process group)')
    .argument('<session-or-task>')
    .action(wire(spawnModule, (m, ctx, ref: string) => m.kill(ref, ctx), (_m, r) => `Sent SIGTERM to ${r.child.session} (pid ${r.child.pid}).`));
  program
    .command('__supervise', { hidden: true })
    .argument('<session>')
    .action(
      action(async (ctx, session: string) => {
        const m = await spawnModule();
        await m.supervise(session, ctx);
        return { result: { revision: 0 } as Result, text: () => null, printed: true };
      }),
    );

  program
    .command('demo')
    .description('a simulated team (spawned agents) finishes a small project on a scratch board (--dir: where; default a new temp directory)')
    .action(
      action(async (ctx) => {
        const m = await import('../commands/demo.js');
        const r = await m.run_({ dir: ctx.dir }, { ...ctx, dir: undefined }, { write: (s) => (mode.json ? undefined : process.stdout.write(escapeTerminal(s))) });
        return { result: r as unknown as Result, text: () => null, printed: !mode.json };
      }),
    );
  program
    .command('__demo-agent', { hidden: true })
    .action(
      action(async (ctx) => {
        const m = await import('../commands/demo.js');
        await m.agent(ctx);
        return { result: { revision: 0 } as Result, text: () => null, printed: true };
      }),
    );

  program
    .command('preflight')
    .description('check the workspace before a team starts (git, branch, clean tree, board) and record it in preflight.json')
    .option('--confirm-workspace', 'go ahead with uncommitted changes')
    .option('--confirm-branch', 'go ahead on main/master')
    .option('--profile <profile>', 'set the profile the team runs under (config.yaml)')
    .option('--agents <n>', 'how many agents will run (recorded)')
    .option('--while-session', 'reuse a confirmation a still-live session made on this branch')
    .action(wire(() => import('../commands/preflight.js'), (m, ctx, o) => m.run(o, ctx), (m, r) => m.renderPreflight(r)));

  program
    .command('intake')
    .description('scan the workspace (packages, folders, TODO/FIXME, recent changes) for candidate tasks')
    .option('--seed', 'add them to the board (with candidate paths and dependencies only)')
    .action(wire(() => import('../commands/intake.js'), (m, ctx, o) => m.run(o, ctx), (m, r) => m.renderIntake(r, r.revision >= 0 && process.argv.includes('--seed'))));

  const gitModule = () => import('../commands/git.js');
  program
    .command('merge-driver')
    .description('the git merge driver for state.json and events.jsonl (git runs it; see git install)')
    .argument('<base>')
    .argument('<ours>')
    .argument('<theirs>')
    .argument('[path]')
    .action(wire(gitModule, (m, _ctx, base: string, ours: string, theirs: string, path: string | undefined) => m.mergeDriver(base, ours, theirs, path), () => ''));
  program
    .command('sync')
    .description('commit the board, fetch, merge with the driver, push; retried while the remote moves')
    .option('--remote <name>', 'default origin')
    .option('--branch <name>', 'default the current branch')
    .action(wire(gitModule, (m, ctx, o) => m.sync(o, ctx), (m, r) => m.renderSync(r)));
  const gitCmd = program.command('git').description('commit the board to git: install or remove the merge driver');
  gitCmd
    .command('install')
    .description('.gitattributes lines, the merge drivers in .git/config, the board\'s ignore lines (idempotent)')
    .action(wire(gitModule, (m, ctx) => m.install(ctx), (m, r) => m.renderInstall(r)));
  gitCmd
    .command('uninstall')
    .description('remove what git install added')
    .action(wire(gitModule, (m, ctx) => m.install(ctx, true), (m, r) => m.renderInstall(r)));

  program
    .command('signal')
    .description('resolve waiting gates: every gate of --type whose --match fields all agree (or one gate by id)')
    .argument('[id]', 'one gate, instead of matching by type')
    .option('--type <type>', 'ci | review | human_approval | any word')
    .option('--match <k=v,...>', 'the fields the signal carries (repo=web,pr=42)')
    .option('--outcome <outcome>', 'success (gates done, dependents unblocked) | failure (gates blocked, notified)')
    .option('--notes <text>')
    .action(wire(() => import('../commands/gates.js'), (m, ctx, id: string | undefined, o) => m.signal(id, o, ctx), (m, r) => m.renderSignal(r)));

  program
    .command('watch')
    .description('the live board in the terminal (q or Ctrl-C quits; plain scrolling output when not a TTY)')
    .option('--agent <id>', 'also show this agent\'s inbox')
    .option('--timeout <seconds>', 'stop after this long')
    .action(
      action(async (ctx, o: { agent?: string; timeout?: string }) => {
        const m = await import('../commands/watch.js');
        const tty = Boolean(process.stdout.isTTY) && !mode.json;
        const quit = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
          if (tty && process.stdin.isTTY) {
            process.stdin.setRawMode(true);
            process.stdin.resume();
            process.stdin.on('data', (d) => {
              const k = d.toString();
              if (k === 'q' || k === 'Q' || k === '\u0003') resolve();
            });
          }
        });
        endWhenOutputCloses = true;
        const write = (s: string) => process.stdout.write(mode.json ? s : escapeDrawing(s));
        const r = await m.run(o, ctx, { tty, json: mode.json, width: () => process.stdout.columns ?? 100, write, quit });
        if (process.stdin.isTTY) {
          process.stdin.setRawMode(false);
          process.stdin.pause();
        }
        return { result: r as unknown as Result, text: () => null, printed: true };
      }),
    );

  program
    .command('handoffs')
    .description('open handoffs (--mine: those addressed to you)')
    .option('--mine')
    .option('--all', 'include taken ones')
    .action(wire(handoffsModule, (m, ctx, o) => m.list(o, ctx), (m, r) => m.renderList(r)));

  return program;
}

function usageError(e: CommanderError): BatonError {
  const message = e.message.replace(/^error:\s*/, '').split('\n')[0]!;
  const suggestion = /\(Did you mean ([^)?]+)\?\)/.exec(e.message)?.[1] ?? null;
  const msg = message.charAt(0).toUpperCase() + message.slice(1);
  return new BatonError('USAGE', `${msg}${suggestion ? ` Did you mean ${suggestion}?` : ''}`, {
    hint: suggestion ? `baton ${suggestion.replace(/^--/, '… --')}` : 'baton --help',
    details: { suggestion },
  });
}

async function main(): Promise<void> {
  const program = build();
  if (argv.length === 0) {
    program.outputHelp();
    return;
  }
  if (mode.json && (argv.includes('--version') || argv.includes('-V'))) {
    await printSuccess({ revision: null, version: VERSION } as never, mode, null);
    return;
  }
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return;
      exitCode = printFailure(usageError(e), mode, process.env);
      return;
    }
    exitCode = printFailure(e, mode, process.env);
  }
}

void main().then(() => {
  // Exit once the output is flushed: a stray handle of a library (a file watcher closed while
  // it was still scanning) must never keep a finished command, and the agent waiting on it, alive.
  process.exitCode = exitCode;
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(exitCode);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
});
