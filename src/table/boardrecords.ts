import { command, NUMBERS, opt } from './define.js';

const results = () => import('./answerschemas.js');

const board = () => import('../commands/board.js');

/** The board itself: make it, look at it, check it, and the demo. */
export const boardCommands = [
  command({
    name: 'init',
    summary: 'create a board in ./project-plan (or --dir)',
    options: {
      name: opt.string('name', 'project name shown on the board'),
      profile: opt.string('profile', 'safe | balanced | throughput', { default: 'balanced' }),
      agentsMd: opt.boolean('add (or refresh) the baton section of AGENTS.md, and CLAUDE.md if present'),
      mcp: opt.string('client', "also write this MCP client's project config: claude | cursor | codex | gemini | vscode (as mcp config)"),
    },
    session: 'none',
    tool: false,
    mutates: true,
    run: async (o, ctx) => (await import('../commands/init.js')).run(o, ctx),
    text: async (r) => (await import('../commands/init.js')).renderText(r),
  }),
  command({
    name: 'status',
    summary: 'the board at a glance',
    session: 'none',
    tool: 'core',
    mutates: false,
    result: async () => (await results()).status(),
    run: async (_o, ctx) => (await board()).status(ctx),
    text: async (r) => (await board()).renderStatus(r),
  }),
  command({
    name: 'render',
    summary: 'regenerate STATUS.md and the other generated files',
    session: 'none',
    idempotent: true,
    mutates: true,
    run: async (_o, ctx) => (await board()).render(ctx),
    text: async (r) => (await board()).renderRender(r),
  }),
  command({
    name: 'doctor',
    summary: 'check the board; --repair fixes what a crash left behind',
    options: { repair: opt.boolean("truncate a crashed writer's events, remove temp files and dead locks, regenerate files") },
    session: 'none',
    idempotent: true,
    mutates: true,
    run: async (o, ctx) => (await board()).doctor(o, ctx),
    text: async (r) => (await board()).renderDoctor(r),
  }),
  command({
    name: 'watch',
    summary: 'the live board in the terminal (q or Ctrl-C quits; plain scrolling output when not a TTY)',
    options: {
      agent: opt.string('id', "also show this agent's inbox"),
      timeout: opt.number('seconds', NUMBERS.seconds, 'stop after this long'),
    },
    session: 'none',
    tool: false,
    mutates: false,
    run: async (o, ctx, io) => (await import('../commands/watch.js')).run(o, ctx, io),
    stream: { screen: true },
  }),
  command({
    name: 'preflight',
    summary: 'check the workspace before a team starts (git, branch, clean tree, board) and record it in preflight.json',
    options: {
      confirmWorkspace: opt.boolean('go ahead with uncommitted changes'),
      confirmBranch: opt.boolean('go ahead on main/master'),
      profile: opt.string('profile', 'set the profile the team runs under (config.yaml)'),
      agents: opt.number('n', NUMBERS.agents, 'how many agents will run (recorded)'),
      whileSession: opt.boolean('reuse a confirmation a still-live session made on this branch'),
    },
    session: 'optional',
    mutates: true,
    run: async (o, ctx) => (await import('../commands/preflight.js')).run(o, ctx),
    text: async (r) => (await import('../commands/preflight.js')).renderPreflight(r),
  }),
  command({
    name: 'advise',
    summary: 'which way of sharing the board fits the team (one directory, a network file system, git sync), which profile, and why',
    options: {
      agents: opt.number('n', NUMBERS.agents, 'how many agents will run (default: what preflight recorded, else 1)'),
      machines: opt.number('m', NUMBERS.machines, 'on how many machines (default 1)'),
      sharedStorage: opt.string('yes|no', 'whether the machines mount one file system that can hold the board'),
    },
    session: 'none',
    tool: 'all',
    mutates: false,
    run: async (o, ctx) => (await import('../commands/preflight.js')).advise(o, ctx),
    text: async (r) => (await import('../rules/advise.js')).renderAdvice(r),
  }),
  command({
    name: 'intake',
    summary: 'scan the workspace (packages, folders, TODO/FIXME, recent changes) for candidate tasks',
    options: { seed: opt.boolean('add them to the board (with candidate paths and dependencies only)') },
    session: 'none',
    mutates: true,
    run: async (o, ctx) => (await import('../commands/intake.js')).run(o, ctx),
    text: async (r, o) => (await import('../commands/intake.js')).renderIntake(r, r.revision >= 0 && Boolean(o.seed)),
  }),
  command({
    name: 'demo',
    summary: 'a simulated team (spawned agents) finishes a small project on a scratch board (--dir: where; default a new temp directory)',
    session: 'none',
    tool: false,
    mutates: true,
    run: async (_o, ctx, io) => (await import('../commands/demo.js')).run({ dir: ctx.dir }, { ...ctx, dir: undefined }, io),
    stream: { jsonResult: true },
  }),
  command({
    name: '__demo-agent',
    summary: 'one simulated agent of the demo',
    hidden: true,
    silent: true,
    session: 'required',
    mutates: true,
    run: async (_o, ctx) => {
      await (await import('../commands/demo.js')).agent(ctx);
      return { revision: 0 };
    },
  }),
];
