import { boardCommands } from './board.js';
import type { TableEntry } from './define.js';
import { mcpCommands } from './mcp.js';
import { messageCommands } from './messages.js';
import { gitCommands, orchestrateCommands } from './orchestrate.js';
import { taskCommands } from './tasks.js';
import { workCommands } from './work.js';

/**
 * Every command baton has, in the order --help lists them. A new command is a record in one of
 * these files (define.ts says what a record holds); the CLI and the MCP tools are made from here.
 */
export const TABLE: readonly TableEntry[] = [...boardCommands, ...taskCommands, ...workCommands, ...messageCommands, ...orchestrateCommands, ...gitCommands, ...mcpCommands];
