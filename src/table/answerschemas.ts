import * as z from 'zod/mini';

/**
 * The `--json` answers of the commands an agent calls most (the MCP core tools), as zod schemas:
 * what an agent can rely on, not every field (each object also carries the rest of its fields).
 * Loaded only when a schema is asked for (jsonschemas.ts resultSchema, the MCP server's tools/list).
 */

const answer = (shape: z.core.$ZodLooseShape) => z.looseObject({ revision: z.number(), ...shape });
const text = () => z.string();
const maybe = <T extends z.ZodMiniType>(t: T) => z.nullable(t);

/** A task as every answer shows it (TaskJson): the fields an agent branches on. One schema, so a JSON Schema of an answer can refer to it. */
const TASK = z.looseObject({ id: text(), title: text(), status: text(), priority: z.int(), assignee: maybe(text()) });
const task = () => TASK;
const tasks = () => z.array(task());

export const status = () =>
  answer({
    project: text(),
    profile: text(),
    total: z.int(),
    counts: z.record(text(), z.int()),
    ready_count: z.int(),
    in_progress: tasks(),
    review_queue: tasks(),
    ready: tasks(),
    blocked: tasks(),
    gates: tasks(),
    questions: z.array(z.looseObject({ id: text(), from_agent: text(), to: text(), task: maybe(text()), text: text(), choices: z.array(text()) })),
    recently_done: tasks(),
  });

export const next = () =>
  answer({
    action: z.enum(['continue', 'take-over', 'answer', 'address-review', 'take-handoff', 'review', 'claim', 'wait', 'idle']),
    task: maybe(task()),
    command: maybe(text()),
    tool: maybe(z.looseObject({ name: text(), arguments: z.record(text(), z.unknown()) })),
    reason: text(),
  });

export const claim = () => answer({ task: task(), lease_token: text(), lease: z.looseObject({ expires_at: text() }), warnings: z.array(text()) });

export const task1 = () => answer({ task: task() });

export const heartbeat = () => answer({ session: text(), leases: z.array(z.looseObject({ task: text(), expires_at: text() })), lost: z.array(text()) });

export const handoff = () => answer({ handoff: z.looseObject({ task: text(), to: text(), state: text(), notes: text() }), task: task(), bundle: text() });

export const inbox = () =>
  answer({
    agent: text(),
    notifications: z.array(z.looseObject({ seq: z.int(), kind: text(), priority: text(), task: maybe(text()), text: maybe(text()), question: maybe(text()) })),
    acked: z.int(),
    ack_command: maybe(text()),
    truncated: z.boolean(),
  });

export const send = () => answer({ to: text(), text: text(), seq: z.int() });

export const show = () => answer({ task: task(), ready: z.boolean(), dependents: z.array(text()), history: z.array(z.looseObject({ seq: z.int(), type: text() })), archived: z.nullable(z.object({ at: text(), file: text() })) });

/** Any other answer: the board revision it is about. */
export const any = () => answer({});
