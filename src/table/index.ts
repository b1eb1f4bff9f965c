import { boardCommands } from './boardrecords.js';
import type { TableEntry } from './define.js';
import { mcpCommands } from './clientrecords.js';
import { messageCommands } from './messagerecords.js';
import { gitCommands, orchestrateCommands } from './orchestratorrecords.js';
import { taskCommands } from './taskrecords.js';
import { workCommands } from './workrecords.js';

/**
 * Every command baton has, in the order --help lists them. A new command is a record in one of
 * these files (define.ts says what a record holds); the CLI and the MCP tools are made from here.
 */
export const TABLE: readonly TableEntry[] = [...boardCommands, ...taskCommands, ...workCommands, ...messageCommands, ...orchestrateCommands, ...gitCommands, ...mcpCommands];
