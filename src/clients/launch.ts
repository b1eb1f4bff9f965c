import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_SCRIPT, type Route } from '../rules/shellword.js';

/**
 * How the files baton writes into a repository for clients and agents run baton. They are
 * committed, so they name nothing of the machine that wrote them and nothing that could resolve
 * to another package, and they download nothing when they run:
 * - a project that has baton as a dependency (`npm install -D baton-board`) runs its own copy, by
 *   its path from the project's root (`node node_modules/baton-board/bin/baton.cjs …`): after
 *   `git clone` and `npm ci` it is there on every machine, in any directory;
 * - a project without it runs `baton-board` from PATH (`npm install -g baton-board`), a command
 *   name no other package has (`baton` alone belongs to another package on the registry).
 * Never `npx`: it costs more than baton does at every hook and server start, and a bare
 * `npx baton` downloads that other package where this one is missing.
 */

/** The project's own copy when `root` has one installed, else the global command. */
export const routeOf = (root: string): Route => (existsSync(join(root, PROJECT_SCRIPT)) ? 'project' : 'global');

