import { arg, command, group, NUMBERS, opt } from './define.js';

const spawnModule = () => import('../commands/spawn.js');
const children = () => import('../commands/children.js');
const orchestrate = () => import('../commands/orchestrate.js');

/** The orchestrator, prompts and spawned sub-agents. */
export const orchestrateCommands = [
  group('orchestrator', 'the one canonical orchestrator session'),
  command({
    name: 'orchestrator start',
    summary: 'make or reuse the canonical <project>-orchestrator session',
    options: {
      relaunch: opt.boolean('end the old one (its leases released) and start fresh'),
      export: opt.boolean('print export lines for eval'),
    },
    session: 'none',
    tool: false,
    mutates: true,
    run: async (o, ctx) => (await orchestrate()).start(o, ctx),
    text: async (r, o, ctx) => (await orchestrate()).renderStart(r, Boolean(o.export), ctx),
    // With --export the answer is for eval: export lines, the same ones when run again in the shell that started it.
    textOnly: (o) => Boolean(o.export),
  }),
  command({
    name: 'prompt',
    summary: 'the full primer for a role, ready to give an agent',
    args: { role: arg.required('worker | reviewer | orchestrator') },
    options: { task: opt.string('id', 'include this task') },
    session: 'none',
    tool: 'orchestrator',
    mutates: false,
    run: async ({ role, ...o }, ctx) => (await orchestrate()).prompt(role, o, ctx),
    text: (r) => r.prompt.trimEnd(),
  }),
  command({
    name: 'spawn',
    summary: 'start a sub-agent on a task (claimed for its new child session) with a ready prompt',
    args: { id: arg.optional('the task to give it') },
    options: {
      next: opt.boolean('the best-ranked ready task'),
      agent: opt.string('name', 'which command from config.yaml spawn.agents'),
      role: opt.string('role', 'worker (default) or reviewer (no task claimed)'),
      specialty: opt.string('list', 'specialties of the child agent'),
      name: opt.string('name', "the child agent's name (default: <agent>-<random>)"),
      worktree: opt.boolean('a git worktree of its own, on branch worker/<session>', 'work in the main checkout'),
      cwd: opt.string('dir', 'run the agent in another directory (another repository), still on this board'),
      timeout: opt.number('s', NUMBERS.seconds, 'stop the child after this many seconds; its task goes back to the queue (default spawn.timeout_seconds, 0 never)'),
    },
    session: 'optional',
    tool: 'orchestrator',
    mutates: true,
    run: async ({ id, ...o }, ctx) => (await spawnModule()).spawn(id, o, ctx),
    text: async (r) => (await spawnModule()).renderSpawn(r),
  }),
  command({
    name: 'gc',
    summary: 'remove old logs and prompts of finished children, and results no task names (never a result a task references)',
    options: { maxAgeDays: opt.number('d', NUMBERS.days, 'only what ended or was written more than this many days ago (default 7)') },
    session: 'none',
    tool: 'all',
    destructive: true,
    idempotent: true,
    mutates: true,
    run: async (o, ctx) => (await children()).gc(o, ctx),
    text: async (r) => (await children()).renderGc(r),
  }),
  command({
    name: 'ps',
    summary: 'spawned agents: state, pid, task, exit, log',
    options: { all: opt.boolean('include those that ended over an hour ago'), limit: opt.number('n', NUMBERS.count, 'at most this many (the answer says truncated: true when more matched)') },
    session: 'none',
    tool: 'orchestrator',
    mutates: false,
    run: async (o, ctx) => (await children()).ps(o, ctx),
    text: async (r) => (await children()).renderPs(r),
  }),
  command({
    name: 'wait',
    summary: 'wait until a spawned agent (by session or task) exits',
    args: { sessionOrTask: arg.required() },
    options: { timeout: opt.number('seconds', NUMBERS.seconds, 'give up after this long (finished: false)') },
    session: 'none',
    tool: 'orchestrator',
    mutates: false,
    run: async ({ sessionOrTask, ...o }, ctx) => (await children()).wait(sessionOrTask, o, ctx),
    text: async (r) => (await children()).renderWait(r),
  }),
  command({
    name: 'kill',
    summary: 'stop a spawned agent (SIGTERM to its process group)',
    args: { sessionOrTask: arg.required() },
    session: 'none',
    tool: 'orchestrator',
    destructive: true,
    mutates: true,
    run: async ({ sessionOrTask }, ctx) => (await children()).kill(sessionOrTask, ctx),
    text: async (r) => (await children()).renderKill(r),
  }),
  command({
    name: '__supervise',
    summary: "watches a spawned child and records its exit",
    args: { session: arg.required() },
    hidden: true,
    silent: true,
    session: 'none',
    mutates: true,
    run: async ({ session }, ctx) => {
      await (await import('../commands/supervise.js')).supervise(session, ctx);
      return { revision: 0 };
    },
  }),
];

const git = () => import('../commands/git.js');

/** The board in git: the merge driver, sync, install. */
export const gitCommands = [
  command({
    name: 'merge-driver',
    summary: 'the git merge driver for state.json and events.jsonl (git runs it; see git install)',
    args: { base: arg.required(), ours: arg.required(), theirs: arg.required(), path: arg.optional() },
    session: 'none',
    tool: false,
    mutates: true,
    run: async ({ base, ours, theirs, path }, ctx) => (await git()).mergeDriver(base, ours, theirs, path, ctx),
    text: () => '',
  }),
  command({
    name: 'sync',
    summary: 'commit the board, fetch, merge with the driver, push; retried while the remote moves',
    options: { remote: opt.string('name', 'default origin'), branch: opt.string('name', 'default the current branch') },
    session: 'optional',
    mutates: true,
    run: async (o, ctx) => (await git()).sync(o, ctx),
    text: async (r) => (await git()).renderSync(r),
  }),
  group('git', 'commit the board to git: install or remove the merge driver'),
  command({
    name: 'git install',
    summary: "set up git for the board: .gitattributes lines, the merge drivers in .git/config, the board's ignore lines (idempotent)",
    session: 'none',
    idempotent: true,
    mutates: true,
    run: async (_o, ctx) => (await git()).install(ctx),
    text: async (r) => (await git()).renderInstall(r),
  }),
  command({
    name: 'git uninstall',
    summary: 'remove what git install added',
    session: 'none',
    destructive: true,
    idempotent: true,
    mutates: true,
    run: async (_o, ctx) => (await git()).install(ctx, true),
    text: async (r) => (await git()).renderInstall(r),
  }),
];
