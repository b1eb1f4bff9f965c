// zod/mini: the same validation as zod at a fraction of its size. This module is loaded
// lazily (see types.ts): the hot read path checks shapes with shape.ts and needs zod only
// to explain what is wrong.
import * as z from 'zod/mini';
import { KINDS, PROFILES, ROLES, STATUSES } from './types.js';

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

const num = (d: number) => z._default(z.number().check(z.gte(0)), d);
const section = <T extends z.ZodMiniObject>(shape: T) => z.prefault(shape, {} as z.input<T>);

export const ConfigSchema = z.object({
  name: z._default(z.string().check(z.minLength(1)), 'project'),
  profile: z._default(z.enum(PROFILES), 'balanced'),
  lease_ttl_seconds: z._default(z.number().check(z.gte(1)), 900),
  session_ttl_seconds: z._default(z.number().check(z.gte(1)), 3600),
  ranking: section(
    z.object({
      priority: num(100),
      critical_path: num(10),
      downstream: num(5),
      age_per_day: num(1),
    }),
  ),
  review: section(z.object({ allow_self_review: z._default(z.boolean(), false) })),
  notifications: section(z.object({ rate_limit_per_minute: z._default(z.int().check(z.gte(1)), 30) })),
  events: section(
    z.object({
      max_rows: z._default(z.int().check(z.gte(0)), 0),
      max_age_days: num(0),
    }),
  ),
  spawn: section(
    z.object({
      max_parallel: z._default(z.int().check(z.gte(1)), 4),
      max_depth: z._default(z.int().check(z.gte(0)), 2),
      worktree: z._default(z.boolean(), false),
      worktree_root: z._default(z.nullable(z.string()), null),
      default_agent: z._default(z.nullable(z.string()), null),
      agents: z._default(z.record(z.string(), z.object({ command: z.array(z.string()).check(z.minLength(1)) })), {}),
    }),
  ),
});
export type Config = z.infer<typeof ConfigSchema>;

