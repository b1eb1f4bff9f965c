import { arg, command, group, opt, served } from './define.js';

/** baton inside the agents: the MCP server and the clients' config for it, and the clients' hooks. */
export const mcpCommands = [
  command({
    name: 'mcp',
    summary: 'serve this board to an MCP client over stdio: the commands as tools, one agent session (see mcp config)',
    options: {
      tools: opt.string('set', 'core (default: a worker\'s loop) | orchestrator | all | a comma-separated list of tiers and tool names'),
      name: opt.string('name', 'agent name to join as (default: BATON_AGENT_NAME, then the client\'s name)'),
      role: opt.string('role', 'worker (default) | reviewer | orchestrator'),
      specialty: opt.string('list', 'comma-separated specialties'),
    },
    session: 'none',
    tool: false,
    mutates: true,
    // The server is the MCP wiring (mcp/server.ts), above this table: the CLI starts it (cli.ts).
    // It runs until the client goes: SIGINT and SIGTERM end it (it leaves first), stdout is the protocol's.
    run: served,
    serves: true,
  }),
  command({
    name: 'mcp config',
    summary: "write this project's MCP config for a client (.mcp.json, .cursor/mcp.json, .codex/config.toml, .gemini/settings.json, .vscode/mcp.json), merged into what is there",
    options: {
      client: opt.string('name', 'claude | cursor | codex | gemini | vscode', { required: true }),
      print: opt.boolean('print the file as it would be, write nothing'),
    },
    session: 'none',
    tool: false,
    idempotent: true,
    mutates: true,
    run: async (o, ctx) => (await import('../commands/mcp.js')).config(o, ctx),
    text: async (r, o) => (await import('../commands/mcp.js')).renderConfig(r, Boolean(o.print)),
  }),

  group('hooks', "baton's hooks in an agent client's project settings"),
  command({
    name: 'hooks install',
    summary: "add baton's hooks (session start, after each tool, stop, session end) to a client's project settings; --uninstall takes them out",
    args: { client: arg.required('claude | codex | gemini') },
    options: {
      uninstall: opt.boolean('take out exactly what install added'),
      command: opt.string('cmd', 'how the hooks run baton (default: node and this baton\'s script; say `baton` when it is on PATH)'),
    },
    session: 'none',
    tool: false,
    idempotent: true,
    mutates: true,
    run: async ({ client, ...o }, ctx) => (await import('../commands/hooks.js')).install(client, o, ctx),
    text: async (r) => (await import('../commands/hooks.js')).renderInstall(r),
  }),
  command({
    name: 'hook',
    summary: "what an installed hook runs: reads the client's hook JSON on stdin, answers in the client's format (session-start, post-tool-use, stop, session-end)",
    args: { event: arg.required('session-start | post-tool-use | stop | session-end') },
    options: {
      client: opt.string('name', 'claude (default) | codex | gemini'),
      name: opt.string('name', 'agent name to join as (default: BATON_AGENT_NAME, then the client)'),
      role: opt.string('role', 'worker (default) | reviewer | orchestrator'),
      specialty: opt.string('list', 'comma-separated specialties'),
    },
    session: 'none',
    tool: false,
    mutates: true,
    run: async ({ event, ...o }, ctx) => (await import('../commands/hooks.js')).hook(event, o, ctx),
    // stdout is the client's: its JSON or nothing, with --json too.
    text: (r) => (r.output ? JSON.stringify(r.output) : null),
    textOnly: () => true,
  }),
];
