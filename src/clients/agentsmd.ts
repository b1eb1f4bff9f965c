import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BatonError } from '../rules/errors.js';
import { asShellInCode, shellBaton } from '../rules/shellword.js';
import { routeOf } from './launch.js';

// The baton section of the repository's AGENTS.md (and CLAUDE.md): written by init, between
// markers, so a refresh replaces only its own lines.

const START = '<!-- baton:start -->';
const END = '<!-- baton:end -->';

export function agentsSection(boardRel: string, shell: string): string {
  const lines = [
    START,
    '## Coordination: baton',
    '',
    `This repository coordinates its agents with baton (the board is \`${boardRel}/\`; never edit it by hand).`,
    '',
    '- **First choice: inside your client.** With the baton MCP server connected (`baton mcp config --client claude|cursor|codex|gemini|vscode`),',
    '  use its tools: `next`, `claim`, `done`, `release`, `handoff`, `inbox`, `send`; it joins for you and renews your leases.',
    '  With baton\'s hooks installed (`baton hooks install claude|codex|gemini`), your session is joined and primed when it starts,',
    '  messages arrive after each tool call, and stopping while you hold a task is refused.',
    '- **Fallback: the shell loop.**',
    '',
    '```sh',
    'eval "$(baton join --name YOUR-NAME --role worker --export)"',
    'baton prime           # who you are here, what you hold, what to do next',
    'baton next            # the one best action for you, with its exact command',
    'baton prompt worker   # the full primer',
    '```',
    END,
  ];
  // The shell loop as the agent's shell runs it (`npx baton-board …` where the project has baton as a dependency).
  return asShellInCode(lines.join('\n'), shell);
}

/** Adds (or refreshes, between its markers) the baton section of AGENTS.md, and of CLAUDE.md if present. */
export function writeAgentsMd(board: string): string[] {
  const root = dirname(board);
  const section = agentsSection(basename(board), shellBaton(routeOf(root)));
  const written: string[] = [];
  for (const name of ['AGENTS.md', 'CLAUDE.md']) {
    const path = join(root, name);
    const exists = existsSync(path);
    if (!exists && name === 'CLAUDE.md') continue;
    const before = exists ? readFileSync(path, 'utf8') : '';
    const s = before.indexOf(START);
    const e = before.indexOf(END);
    let after: string;
    if (s >= 0 && e > s) after = `${before.slice(0, s)}${section}${before.slice(e + END.length)}`;
    else if (s >= 0 || e >= 0) throw new BatonError('INVALID_INPUT', `${path} has only one of the baton markers; fix it by hand.`, { details: { file: path } });
    else after = before ? `${before.trimEnd()}\n\n${section}\n` : `# Agents\n\n${section}\n`;
    if (after !== before) {
      writeFileSync(path, after);
      written.push(path);
    }
  }
  return written;
}
