import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../rules/types.js';

/** Whether a command word runs: a path that is an executable file, or a name found on PATH. */
function onPath(word: string, path: string | undefined): boolean {
  const runs = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (word.includes('/')) return runs(word);
  return (path ?? '').split(':').some((d) => d !== '' && runs(join(d, word)));
}

export interface AgentCommands {
  /** spawn.agents entries, and the preset spawn.default_agent names: what spawn uses. */
  missing_configured: string[];
  /** Presets nobody has named: only a warning. */
  missing_presets: string[];
  /** The agent spawn starts without --agent, when its command is missing. */
  default_missing: string | null;
  /** Configured agents and presets whose command the CLI refuses for this user (Claude Code's permission bypass as root). */
  refused: string[];
}

/** Why the CLI would refuse this command for user `uid`, or null. */
function refusal(argv: string[], uid: number | null, env: Record<string, string | undefined>): string | null {
  const bypass = argv.includes('--dangerously-skip-permissions') || argv.join(' ').includes('--permission-mode bypassPermissions');
  if (uid === 0 && /(^|\/)claude$/.test(argv[0]!) && bypass && !env.IS_SANDBOX) return 'Claude Code refuses --dangerously-skip-permissions (and bypassPermissions) as root';
  return null;
}

/** The agent commands of config.yaml that would not start here (doctor). */
export function missingAgentCommands(config: Config, path: string | undefined, uid: number | null = null, env: Record<string, string | undefined> = {}): AgentCommands {
  const { agents, presets, default_agent } = config.spawn;
  const missing = (name: string, argv: string[]) => (onPath(argv[0]!, path) ? [] : [`${name} (${argv[0]})`]);
  const configured = Object.entries(agents).flatMap(([n, a]) => missing(n, a.command));
  const inUse = (n: string) => n in agents || n === default_agent;
  const presetsInUse = Object.entries(presets).filter(([n]) => inUse(n) && !(n in agents));
  const unused = Object.entries(presets).filter(([n]) => !inUse(n));
  const spec = default_agent ? (agents[default_agent] ?? presets[default_agent]) : undefined;
  return {
    missing_configured: [...configured, ...presetsInUse.flatMap(([n, a]) => missing(n, a.command))],
    missing_presets: unused.flatMap(([n, a]) => missing(n, a.command)),
    default_missing: spec && !onPath(spec.command[0]!, path) ? default_agent : null,
    refused: [...Object.entries(agents), ...Object.entries(presets).filter(([n]) => !(n in agents))].flatMap(([n, a]) => {
      const why = refusal(a.command, uid, env);
      return why ? [`${n}: ${why}`] : [];
    }),
  };
}
