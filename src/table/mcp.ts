import { command, opt } from './define.js';

/** baton inside the agents: the MCP server and the clients' config for it. */
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
    run: async (o, ctx, io) => (await import('../mcp/server.js')).serve(o, ctx, io),
    // It runs until the client goes: SIGINT and SIGTERM end it (it leaves first), stdout is the protocol's.
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
];
