import { type AnyCommand, type ArgSpec, isGroup, NUMBERS, type OptSpec, type Tier } from '../table/define.js';
import { TABLE } from '../table/index.js';

/**
 * The MCP tools, made from the command table: one tool per command whose record names a tier,
 * named by its words (`review approve` is `review_approve`), its input fields the record's
 * arguments and options. Two pairs are one tool each, told apart by whether the call names a
 * task: `claim` (an id: that task; none: the best next, claim-next) and `review` (an id:
 * review start; none: review next).
 */

/** A field of a tool's input: its name in a call, and the record's key it fills. */
interface Field {
  name: string;
  key: string;
  spec: ArgSpec | OptSpec;
  /** Not required in the tool even if the command requires it (the id of a merged tool). */
  optional: boolean;
}

export interface Tool {
  name: string;
  title: string;
  description: string;
  tier: Tier;
  /** The command run when the call gives `pivot` (or the only command). */
  command: AnyCommand;
  /** A merged tool: the command run when the call leaves `pivot` out. */
  without?: { command: AnyCommand; pivot: string } | undefined;
  fields: Field[];
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
}

/** Tools that are two commands: with the argument, the first; without it, the second. */
const MERGED: Record<string, { without: string; pivot: string }> = {
  claim: { without: 'claim-next', pivot: 'id' },
  'review start': { without: 'review next', pivot: 'id' },
};
const MERGED_NAMES: Record<string, string> = { 'review start': 'review' };

/** The tool sets `--tools` names; each includes the ones before it. */
const TIERS: readonly Tier[] = ['core', 'orchestrator', 'all'];

/** A field's name in a tool call: snake case, and a duration says its unit (`watch` is `watch_seconds`). */
function fieldName(key: string, spec: ArgSpec | OptSpec): string {
  const snake = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return spec.kind === 'number' && spec.limits === NUMBERS.seconds && !snake.endsWith('_seconds') ? `${snake}_seconds` : snake;
}

function fieldsOf(def: AnyCommand, optionalArgs: ReadonlySet<string> = new Set()): Field[] {
  const fields: Field[] = [];
  for (const [key, spec] of Object.entries(def.args as Record<string, ArgSpec>)) fields.push({ name: fieldName(key, spec), key, spec, optional: optionalArgs.has(key) });
  for (const [key, spec] of Object.entries(def.options as Record<string, OptSpec>)) if (!spec.cli) fields.push({ name: fieldName(key, spec), key, spec, optional: false });
  return fields;
}

const sentence = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}${/[.)]$/.test(s) ? '' : '.'}`;

function annotationsOf(defs: AnyCommand[]) {
  const readOnly = defs.every((d) => !d.mutates);
  return {
    readOnlyHint: readOnly,
    destructiveHint: defs.some((d) => d.destructive === true),
    idempotentHint: readOnly || defs.every((d) => d.idempotent === true),
    openWorldHint: false,
  };
}

let cached: Tool[] | null = null;

/** Every command that is a tool, in the table's order. */
function allTools(): Tool[] {
  if (cached) return cached;
  const byName = new Map<string, AnyCommand>();
  for (const e of TABLE) if (!isGroup(e)) byName.set(e.name, e);
  const folded = new Set(Object.values(MERGED).map((m) => m.without));
  const tools: Tool[] = [];
  for (const def of byName.values()) {
    if (def.hidden || def.tool === false || folded.has(def.name)) continue;
    const tier = def.tool ?? 'all';
    const merged = MERGED[def.name];
    const name = (MERGED_NAMES[def.name] ?? def.name).replace(/[ -]/g, '_');
    if (!merged) {
      tools.push({ name, title: titleOf(name), description: sentence(def.summary), tier, command: def, fields: fieldsOf(def), annotations: annotationsOf([def]) });
      continue;
    }
    const other = byName.get(merged.without)!;
    const fields = fieldsOf(def, new Set([merged.pivot]));
    for (const f of fieldsOf(other)) if (!fields.some((g) => g.name === f.name)) fields.push(f);
    tools.push({
      name,
      title: titleOf(name),
      description: `${sentence(def.summary).slice(0, -1)}; without ${merged.pivot}: ${other.summary.replace(/ \(NO_WORK, exit 6, when none\)$/, '')} (NO_WORK when there is none).`,
      tier,
      command: def,
      without: { command: other, pivot: merged.pivot },
      fields,
      annotations: annotationsOf([def, other]),
    });
  }
  cached = tools;
  return tools;
}

const titleOf = (name: string) => {
  const words = name.split('_');
  return [words[0]!.charAt(0).toUpperCase() + words[0]!.slice(1), ...words.slice(1)].join(' ');
};

/**
 * The tools `--tools` names: a tier (and the tiers before it), or a comma-separated list of tier
 * and tool names (`core,review,review_approve`). An unknown name is INVALID_INPUT naming it.
 */
export function selectTools(spec: string): Tool[] | { unknown: string[] } {
  const tools = allTools();
  const wanted = new Set<string>();
  const unknown: string[] = [];
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const tier = TIERS.indexOf(raw as Tier);
    if (tier >= 0) {
      for (const t of tools) if (TIERS.indexOf(t.tier) <= tier) wanted.add(t.name);
    } else if (tools.some((t) => t.name === raw)) wanted.add(raw);
    else unknown.push(raw);
  }
  if (unknown.length) return { unknown };
  return tools.filter((t) => wanted.has(t.name));
}

/** The command a call runs, and its input by the record's keys. */
export function commandFor(tool: Tool, args: Record<string, unknown>): { def: AnyCommand; input: Record<string, unknown>; dropped: string[] } {
  const byName = new Map(tool.fields.map((f) => [f.name, f]));
  const given = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
  const def = tool.without && !(byName.get(tool.without.pivot)!.name in given) ? tool.without.command : tool.command;
  const accepted = new Set([...Object.keys(def.args), ...Object.keys(def.options)]);
  const input: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(given)) {
    const f = byName.get(name);
    if (!f) continue; // the schema check has already refused unknown fields
    if (accepted.has(f.key)) input[f.key] = value;
    else dropped.push(name);
  }
  return { def, input, dropped };
}
