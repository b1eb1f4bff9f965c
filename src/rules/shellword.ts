/**
 * The words that run baton, as the files baton writes for clients and agents say them (the
 * launch rules are in clients/launch.ts, which also finds which one a project uses).
 */

/** The name baton is published under; the command it installs stays `baton` (and `baton-board`). */
export const PACKAGE = 'baton-board';

/** The project's own copy, from the project's root. */
export const PROJECT_SCRIPT = `node_modules/${PACKAGE}/bin/baton.cjs`;

export type Route = 'project' | 'global';

/** The command and arguments that run `baton ARGS` from the project's root. */
export const batonArgv = (route: Route, args: string[]): { command: string; args: string[] } =>
  route === 'project' ? { command: 'node', args: [PROJECT_SCRIPT, ...args] } : { command: PACKAGE, args };

/**
 * What an agent types in its shell to run baton in this project: `npx baton-board` finds the
 * project's own copy from any directory of the project, and names baton's own package, so a shell
 * where it is not installed yet (a clone before `npm ci`) can never run another one (a bare `npx
 * baton` would fetch and run the registry's unrelated `baton` without asking, stdin not being a
 * terminal); a global install is `baton`.
 */
export const shellBaton = (route: Route): string => (route === 'project' ? 'npx baton-board' : 'baton');

/**
 * Text for an agent with its commands as its shell runs them: `baton next` becomes `npx
 * baton-board next` in a project that has baton as a dependency (words such as "baton:" or "the baton MCP
 * server" are not commands and stay).
 */
export const asShell = (text: string, word: string): string => (word === 'baton' ? text : text.replace(/(^|[\s"'`(])baton (?=[a-z])/gm, `$1${word} `));

/**
 * Markdown for an agent (a role's prompt, the AGENTS.md section) with the commands in its code
 * (spans and blocks) as the agent's shell runs them; the prose, and what people wrote, as it is.
 */
export const asShellInCode = (markdown: string, word: string): string => (word === 'baton' ? markdown : markdown.replace(/```[\s\S]*?```|`[^`\n]*`/g, (code) => asShell(code, word)));
