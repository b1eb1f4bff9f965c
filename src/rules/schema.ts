// zod/mini: the same validation as zod at a fraction of its size. This module is loaded
// lazily (see types.ts): the hot read path checks shapes with shape.ts and needs zod only
// to explain what is wrong.
import * as z from 'zod/mini';
import { KINDS, PROFILES, ROLES, STATUSES } from './vocabulary.js';

const iso = z.string().check(z.minLength(1));
const ref = z.string().check(z.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/));

export const NoteSchema = z.object({ at: iso, author: z.nullable(z.string()), text: z.string() });
export type Note = z.infer<typeof NoteSchema>;

export const LeaseSchema = z.object({
  session: z.string(),
  expires_at: iso,
  heartbeat_at: iso,
  /** sha256 of the lease token; internal, never printed. */
  token_hash: z.string(),
});
export type Lease = z.infer<typeof LeaseSchema>;

export const TaskSchema = z.object({
  id: ref,
  title: z.string().check(z.minLength(1)),
  description: z.nullable(z.string()),
  kind: z.enum(KINDS),
  status: z.enum(STATUSES),
  priority: z.int().check(z.gte(0), z.lte(3)),
  specialty: z.nullable(z.string()),
  depends_on: z.array(ref),
  candidate_depends_on: z.array(ref),
  owned_paths: z.array(z.string()),
  candidate_owned_paths: z.array(z.string()),
  estimate: z.number().check(z.positive()),
  labels: z.array(z.string()),
  parent: z.nullable(ref),
  assignee: z.nullable(z.string()),
  reviewer: z.nullable(z.string()),
  lease: z.nullable(LeaseSchema),
  /** null: follow the profile (safe and balanced require review, throughput does not). */
  review_required: z.nullable(z.boolean()),
  gate: z.nullable(z.object({ type: z.string(), match: z.record(z.string(), z.string()) })),
  blocked: z.nullable(z.object({ reason: z.string(), previous: z.enum(STATUSES), at: iso })),
  notes: z.array(NoteSchema),
  created_at: iso,
  updated_at: iso,
  /** Board revision at which this task last changed (the merge driver's "newer" test). */
  rev: z.int().check(z.gte(0)),
  /** What the task produced (`done --result`), stored once under results/ (store/resultfiles.ts); absent until then. */
  result: z.optional(z.object({ ref: z.string(), size: z.int().check(z.gte(0)), kind: z.enum(['text', 'json']), summary: z.string() })),
});
export type Task = z.infer<typeof TaskSchema>;

export const AgentSchema = z.object({
  id: ref,
  name: z.string().check(z.minLength(1)),
  host: z.string(),
  role: z.enum(ROLES),
  specialties: z.array(ref),
  created_at: iso,
  last_seen_at: iso,
});
export type Agent = z.infer<typeof AgentSchema>;

export const SessionSchema = z.object({
  id: ref,
  agent: ref,
  role: z.enum(ROLES),
  host: z.string(),
  window: z.nullable(z.string()),
  parent: z.nullable(z.string()),
  depth: z.int().check(z.gte(0)),
  started_at: iso,
  heartbeat_at: iso,
  ended_at: z.nullable(iso),
  end_reason: z.nullable(z.string()),
  /** sha256 of the session token; internal, never printed. */
  token_hash: z.string(),
  /** The one canonical orchestrator session (`baton orchestrator start`). */
  canonical: z.optional(z.boolean()),
  /** Set on sessions started by `baton spawn`: the child process and what became of it. */
  spawn: z.optional(
    z.object({
      agent: z.string(),
      command: z.array(z.string()),
      cwd: z.string(),
      task: z.nullable(z.string()),
      state: z.enum(['starting', 'running', 'exited', 'failed']),
      pid: z.nullable(z.int()),
      supervisor_pid: z.nullable(z.int()),
      log: z.string(),
      prompt_file: z.nullable(z.string()),
      worktree: z.nullable(z.string()),
      branch: z.nullable(z.string()),
      exit_code: z.nullable(z.int()),
      signal: z.nullable(z.string()),
      error: z.nullable(z.string()),
      exited_at: z.nullable(iso),
    }),
  ),
});
export type Session = z.infer<typeof SessionSchema>;

export const HandoffSchema = z.object({
  task: ref,
  /** open: waiting for a taker; taken: someone claimed it. */
  state: z.enum(['open', 'taken']),
  from: ref,
  from_session: z.string(),
  /** agent:<id>, a role, or role:specialty. */
  to: z.string(),
  notes: z.string(),
  at: iso,
  branch: z.nullable(z.string()),
  diff_stat: z.nullable(z.string()),
  /** The task's latest events at handoff time, for the bundle. */
  recent: z.array(z.object({ seq: z.int(), ts: iso, type: z.string(), actor: z.nullable(z.string()) })),
  acked_by: z.array(ref),
  taken_by: z.nullable(ref),
  taken_at: z.nullable(iso),
});
export type Handoff = z.infer<typeof HandoffSchema>;

/** A checkpoint question (questions.ts): open until answered. */
export const QuestionSchema = z.object({
  id: ref,
  from_agent: z.string(),
  from_session: z.string(),
  /** The notification target it went to: agent:ID or orchestrator. */
  to: z.string(),
  /** What the asker wrote in --to (parent, orchestrator, agent:ID). */
  asked_to: z.string(),
  task: z.nullable(z.string()),
  text: z.string(),
  choices: z.array(z.string()),
  asked_at: iso,
  answer: z.nullable(z.object({ text: z.string(), by: z.nullable(z.string()), at: iso })),
});
export type Question = z.infer<typeof QuestionSchema>;

export const StateSchema = z.object({
  schema: z.literal(1),
  board: z.object({ name: z.string(), created_at: iso }),
  revision: z.int().check(z.gte(0)),
  /** seq of the last committed event; events past it in the log are from a crashed writer. */
  seq: z.int().check(z.gte(0)),
  tasks: z.record(z.string(), TaskSchema),
  agents: z.record(z.string(), AgentSchema),
  sessions: z.record(z.string(), SessionSchema),
  handoffs: z.record(z.string(), HandoffSchema),
  /**
   * Tasks this board archived lately (id → when), so that a git merge can tell a task this side
   * archived from one it never had (archiving.ts TOMBSTONES). Absent on a board that never archived.
   */
  archived: z.optional(z.record(z.string(), iso)),
  /**
   * The id of the last event this state committed: two histories that wrote alike still differ
   * here, so git hands state.json to the merge driver whenever the boards diverged. Absent after a merge.
   */
  tip: z.optional(z.string()),
  /** Checkpoint questions (questions.ts); absent on a board that never had one. */
  questions: z.optional(z.record(z.string(), QuestionSchema)),
});
export type State = z.infer<typeof StateSchema>;

export const EventSchema = z.object({
  id: z.string(),
  seq: z.int().check(z.gte(1)),
  ts: iso,
  revision: z.int().check(z.gte(1)),
  type: z.string(),
  actor: z.nullable(z.string()),
  session: z.nullable(z.string()),
  task: z.nullable(z.string()),
  data: z.record(z.string(), z.unknown()),
  notify: z.nullable(
    z.object({
      targets: z.array(z.string()),
      kind: z.string(),
      priority: z.enum(['low', 'normal', 'high']),
    }),
  ),
});
export type BatonEvent = z.infer<typeof EventSchema>;

/** What a rejected config number is shown as: short, and never a whole nested value. */
function shownInput(input: unknown): string {
  if (typeof input === 'number' || typeof input === 'boolean' || input === null) return String(input);
  try {
    const json = JSON.stringify(input);
    return json.length > 40 ? `${json.slice(0, 40)}…` : json;
  } catch {
    return typeof input;
  }
}

/**
 * A config number with its default and the range a person would expect: a value past it
 * (`lease_ttl_seconds: 1e20`) is refused when the file is read, naming the key and the range,
 * instead of overflowing a date or a timer in the middle of a command.
 */
const ranged = (d: number, min: number, max: number, whole = false) => {
  const error = (issue: { input?: unknown }) =>
    `must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max}${issue.input === undefined ? '' : ` (got ${shownInput(issue.input)})`}`;
  const base = whole ? z.int({ error }) : z.number({ error });
  return z._default(base.check(z.gte(min, { error }), z.lte(max, { error })), d);
};
const weight = (d: number) => ranged(d, 0, 10_000);
const section = <T extends z.ZodMiniObject>(shape: T) => z.prefault(shape, {} as z.input<T>);

/** The ranges, also written in the comments of templates/config.yaml. */
export const ConfigSchema = z.object({
  name: z._default(z.string().check(z.minLength(1)), 'project'),
  profile: z._default(z.enum(PROFILES), 'balanced'),
  /** Up to a week: a lease is renewed by heartbeats, a longer one only hides a dead agent. */
  lease_ttl_seconds: ranged(900, 1, 604_800),
  /** Up to 30 days. */
  session_ttl_seconds: ranged(3600, 1, 2_592_000),
  /**
   * How old the lock of a writer on another machine must be before it is judged dead (a holder on
   * this machine is judged by its process). Above the longest transaction on shared storage.
   */
  lock_stale_seconds: ranged(10, 2, 3600),
  /** How far two machines' clocks may disagree: leases and sessions get this much grace. */
  clock_skew_seconds: ranged(30, 0, 3600),
  ranking: section(
    z.object({
      priority: weight(100),
      critical_path: weight(10),
      downstream: weight(5),
      age_per_day: weight(1),
    }),
  ),
  review: section(z.object({ allow_self_review: z._default(z.boolean(), false) })),
  notifications: section(z.object({ rate_limit_per_minute: ranged(30, 1, 10_000, true) })),
  tasks: section(
    z.object({
      /** Finished tasks move to archive/tasks/ this many days after they last changed; 0 never. */
      archive_after_days: ranged(30, 0, 3650),
    }),
  ),
  events: section(
    z.object({
      /** 0 keeps all. */
      max_rows: ranged(0, 0, 10_000_000, true),
      /** 0 keeps all; up to ten years. */
      max_age_days: ranged(0, 0, 3650),
    }),
  ),
  spawn: section(
    z.object({
      max_parallel: ranged(4, 1, 100, true),
      max_depth: ranged(2, 0, 10, true),
      /** A child running longer than this is stopped and its task goes back to the queue; 0 never. */
      timeout_seconds: ranged(0, 0, 604_800),
      worktree: z._default(z.boolean(), false),
      worktree_root: z._default(z.nullable(z.string()), null),
      default_agent: z._default(z.nullable(z.string()), null),
      agents: z._default(z.record(z.string(), z.object({ command: z.array(z.string()).check(z.minLength(1)) })), {}),
      presets: z._default(z.record(z.string(), z.object({ command: z.array(z.string()).check(z.minLength(1)) })), {}),
    }),
  ),
});
export type Config = z.infer<typeof ConfigSchema>;

/** A key of config.yaml that baton does not know (zod drops such keys without a word). */
export interface UnknownConfigKey {
  /** Dotted path: `profil`, `spawn.max_paralel`. */
  key: string;
  /** The closest known key, dotted, or null. */
  suggestion: string | null;
}

/** The parts of a zod/mini schema the walk below reads (`_zod.def` is zod's public introspection). */
interface SchemaNode {
  _zod: { def: { type: string; innerType?: SchemaNode; shape?: Record<string, SchemaNode>; valueType?: SchemaNode } };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Edit distance with adjacent transpositions (`profiel` is one step from `profile`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** How far apart a typed key and a known one are; Infinity when too far to suggest. */
function keyDistance(typed: string, known: string): number {
  const a = typed.toLowerCase().replace(/-/g, '_');
  if (a === known) return 0;
  const d = editDistance(a, known);
  if (d <= Math.max(1, Math.floor(a.length / 3))) return d;
  // A shortened key (`lease_ttl` for `lease_ttl_seconds`).
  return a.length >= 4 && known.startsWith(a) ? known.length - a.length : Infinity;
}

/** Every known key path (entries of a free-named map such as spawn.agents left out). */
function knownPaths(node: SchemaNode, path: string[], out: string[][]): string[][] {
  const def = node._zod.def;
  if (def.innerType) return knownPaths(def.innerType, path, out);
  if (def.type === 'object' && def.shape) {
    for (const [k, child] of Object.entries(def.shape)) {
      out.push([...path, k]);
      knownPaths(child, [...path, k], out);
    }
  }
  return out;
}

/** The nearest known key: a sibling first, else the same key under another section. */
function suggestKey(typed: string, siblings: string[], path: string[]): string | null {
  let best: { d: number; key: string } | null = null;
  for (const s of siblings) {
    const d = keyDistance(typed, s);
    if (d < (best?.d ?? Infinity)) best = { d, key: [...path, s].join('.') };
  }
  if (best) return best.key;
  for (const p of knownPaths(ConfigSchema as unknown as SchemaNode, [], [])) {
    const d = keyDistance(typed, p[p.length - 1]!);
    if (d < (best?.d ?? Infinity)) best = { d, key: p.join('.') };
  }
  return best?.key ?? null;
}

function collectUnknown(node: SchemaNode, value: unknown, path: string[], out: UnknownConfigKey[]): void {
  const def = node._zod.def;
  if (def.innerType) return collectUnknown(def.innerType, value, path, out);
  if (!isPlainObject(value)) return;
  if (def.type === 'record' && def.valueType) {
    for (const [k, v] of Object.entries(value)) collectUnknown(def.valueType, v, [...path, k], out);
  } else if (def.type === 'object' && def.shape) {
    const shape = def.shape;
    for (const [k, v] of Object.entries(value)) {
      const child = Object.hasOwn(shape, k) ? shape[k] : undefined;
      if (child) collectUnknown(child, v, [...path, k], out);
      else out.push({ key: [...path, k].join('.'), suggestion: suggestKey(k, Object.keys(shape), path) });
    }
  }
}

/** Keys of a parsed config.yaml that the schema does not know, each with the closest known key. */
export function unknownConfigKeys(raw: unknown): UnknownConfigKey[] {
  const out: UnknownConfigKey[] = [];
  collectUnknown(ConfigSchema as unknown as SchemaNode, raw, [], out);
  return out;
}

/** A key as shown to people: its control and bidi characters escaped (it comes from a file). */
const shownKey = (key: string) => key.replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);

/** `unknown key 'profil' in config.yaml (did you mean 'profile'?)` */
export function describeUnknownKey(u: UnknownConfigKey, file: string): string {
  return `unknown key '${shownKey(u.key)}' in ${file}${u.suggestion ? ` (did you mean '${u.suggestion}'?)` : ''}`;
}
