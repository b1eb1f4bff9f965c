import type { Ctx, RunIO } from '../commands/context.js';
import { invalidInput } from '../rules/errors.js';

/**
 * The shape of a command, written once: the CLI (src/cli/wire.ts) and the MCP tools are both
 * generated from these records. Plain data on purpose: building the table costs nothing at
 * start-up (no zod until a schema is asked for, see jsonschemas.ts), and every command module is
 * loaded only when its command runs.
 *
 * A flag's spelling comes from its key: `leaseToken` is `--lease-token <token>`.
 */

// ---------------------------------------------------------------- arguments

export interface ArgSpec {
  readonly kind: 'arg';
  readonly required: boolean;
  readonly variadic: boolean;
  /** Words given on the command line that are one text (a message): joined by spaces, one string in a tool call. */
  readonly text?: boolean;
  readonly description?: string | undefined;
}

export const arg = {
  /** `<name>` */
  required: (description?: string) => ({ kind: 'arg', required: true, variadic: false, description }) as const,
  /** `[name]` */
  optional: (description?: string) => ({ kind: 'arg', required: false, variadic: false, description }) as const,
  /** `<name...>`: one or more words, each its own value (paths). */
  words: (description?: string) => ({ kind: 'arg', required: true, variadic: true, description }) as const,
  /** `<name...>`: one or more words that make one text (a message), joined by spaces. */
  text: (description?: string) => ({ kind: 'arg', required: true, variadic: true, text: true, description }) as const,
};

type ArgValue<S> = S extends { text: true } ? string : S extends { variadic: true } ? string[] : S extends { required: true } ? string : string | undefined;

// ---------------------------------------------------------------- options

/** Limits of a numeric flag; every numeric flag is read by one parser (parseNumber). */
export interface NumberLimits {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  /** What to give, for the error: "seconds", "a whole number", "a seq". */
  readonly what: string;
}

/** The numeric kinds baton's flags take, with their one set of limits. */
export const NUMBERS = {
  seconds: { min: 0, max: 86_400 * 7, integer: false, what: 'seconds, e.g. 30' },
  count: { min: 0, max: 1_000_000_000, integer: true, what: 'a whole number' },
  seq: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true, what: 'an event seq, a whole number' },
  days: { min: 0, max: 36_500, integer: false, what: 'days, e.g. 30' },
  agents: { min: 1, max: 1000, integer: true, what: 'a whole number of agents' },
  machines: { min: 1, max: 1000, integer: true, what: 'a whole number of machines' },
  /** A task's relative size: above zero (MIN_VALUE is the least number above it). */
  estimate: { min: Number.MIN_VALUE, max: 10_000, integer: false, what: 'a positive number' },
} as const satisfies Record<string, NumberLimits>;

/** `cli`: a flag only the command line has (one that turns a command into a stream), never a tool's field. */
export type OptSpec = (
  | { readonly kind: 'string'; readonly value: string; readonly description?: string | undefined; readonly required?: boolean; readonly default?: string }
  | { readonly kind: 'list'; readonly value: string; readonly description?: string | undefined }
  | { readonly kind: 'boolean'; readonly description?: string | undefined; readonly negation?: string | undefined }
  | { readonly kind: 'number'; readonly value: string; readonly limits: NumberLimits; readonly description?: string | undefined }
) & { readonly cli?: boolean };

export const opt = {
  /** `--key <value>` */
  string: <const E extends { required?: true; default?: string }>(value: string, description?: string, extra?: E) =>
    ({ kind: 'string', value, description, ...(extra as E) }) as { kind: 'string'; value: string; description?: string } & E,
  /** `--key <value>`, repeatable, and commas split: `--label a --label b,c`. */
  list: (value: string, description?: string) => ({ kind: 'list', value, description }) as const,
  /** `--key`; with a negation, `--no-key` too (neither given: undefined). */
  boolean: (description?: string, negation?: string) => ({ kind: 'boolean', description, negation }) as const,
  /** `--key <value>`, read by the one numeric parser within `limits`. */
  number: (value: string, limits: NumberLimits, description?: string) => ({ kind: 'number', value, limits, description }) as const,
};

type OptValue<S> = S extends { kind: 'boolean' } ? boolean : S extends { kind: 'list' } ? string[] : S extends { kind: 'number' } ? number : string;
type Given<S> = S extends { required: true } ? true : S extends { default: string } ? true : false;

export type ArgSpecs = Readonly<Record<string, ArgSpec>>;
export type OptSpecs = Readonly<Record<string, OptSpec>>;

/** What a command's run() receives: its arguments by name and its options by key. */
export type Input<A extends ArgSpecs, O extends OptSpecs> = { -readonly [K in keyof A]: ArgValue<A[K]> } & {
  -readonly [K in keyof O as Given<O[K]> extends true ? K : never]: OptValue<O[K]>;
} & { -readonly [K in keyof O as Given<O[K]> extends true ? never : K]?: OptValue<O[K]> };

// ---------------------------------------------------------------- the record

/** How a command streams: its items are its output, printed as they come. */
export interface StreamSpec<I = any> {
  /** Streams for this input only (events streams with --follow); default: always. */
  when?(input: I): boolean;
  /** On a terminal each item is a whole screen, redrawn in place (watch); else items are lines. */
  screen?: boolean;
  /** With --json, the result is printed at the end too (the demo); default: items only. */
  jsonResult?: boolean;
}

/** A zod schema of a command's result (kept opaque here so the table never loads zod). */
export type ResultSchema = { readonly _zod: unknown };

/** A result as human text; a renderer that lives in a lazily loaded module is async. */
export type Text = string | null | Promise<string | null>;

/**
 * Which MCP tool set a command belongs to (`baton mcp --tools`): `core` is a worker's loop (at
 * most 10 tools), `orchestrator` adds planning and spawning, `all` everything else that makes
 * sense as a tool; `false` never (the server's own session commands, terminals, internals).
 */
export type Tier = 'core' | 'orchestrator' | 'all';

/** The data every result carries. */
export interface Result {
  /** The board revision the answer is about (-1 or 0 where there is no board, as init and intake say). */
  revision: number;
}

export interface CommandDef<A extends ArgSpecs = ArgSpecs, O extends OptSpecs = OptSpecs, R extends Result = Result> {
  /** The full name as typed: `review approve`. */
  readonly name: string;
  /** One sentence for --help, the README and the MCP tool's description. */
  readonly summary: string;
  readonly args: A;
  readonly options: O;
  /**
   * Whether it acts as a session (BATON_SESSION/BATON_TOKEN): 'required' refuses without one,
   * 'optional' uses one when given, 'none' never does.
   */
  readonly session: 'required' | 'optional' | 'none';
  /** Whether it can change the board (a read-only command never takes the lock). */
  readonly mutates: boolean;
  /** Not listed in --help or the README (internal entry points such as __supervise). */
  readonly hidden?: boolean;
  /** Its MCP tool set (default `all`; hidden commands never are tools). */
  readonly tool?: Tier | false;
  /** It may undo or end work that is not only the caller's (cancel, kill): MCP's destructiveHint. */
  readonly destructive?: boolean;
  /** Doing it twice with the same input is the same as once (heartbeat, an ack): MCP's idempotentHint. */
  readonly idempotent?: boolean;
  /**
   * The shape of its `--json` result (without the `ok` envelope), as a zod schema made on demand
   * (answerschemas.ts, loaded only then); without one, an object with a revision (jsonschemas.ts resultSchema).
   */
  readonly result?: (() => Promise<ResultSchema>) | undefined;
  run(input: Input<A, O>, ctx: Ctx, io: RunIO): Promise<R>;
  /** The human text of a result (null: nothing); colour and escaping are the CLI's. */
  text(result: R, input: Input<A, O>, ctx: Ctx): Text;
  /** Print text() as it is, even with --json (join --export's lines are for eval, whatever the mode). */
  textOnly?(input: Input<A, O>, result: R): boolean;
  /** A command that streams items while it runs, and how they are shown. */
  stream?: StreamSpec<Input<A, O>> | undefined;
  /** Print nothing at all when it ends (an internal entry point whose output is its children's). */
  silent?: boolean;
  /**
   * A server (`mcp`, its run `served`: the CLI starts mcp/server.ts): it runs until its client goes or SIGINT/SIGTERM settle `io.quit`, and
   * prints nothing itself (its stdout is a protocol); a closed stdout or stderr does not end it.
   */
  serves?: boolean;
}

/** A parent that only groups subcommands (`review`, `git`): its summary for --help. */
export interface GroupDef {
  readonly group: string;
  readonly summary: string;
}

/** Any record of the table, as the front ends handle them. */
export type AnyCommand = CommandDef<any, any, any>;

export type TableEntry = AnyCommand | GroupDef;

export const isGroup = (e: TableEntry): e is GroupDef => 'group' in e;

/** Declares a command; the identity function that gives `run` and `text` their types. */
export function command<const A extends ArgSpecs = {}, const O extends OptSpecs = {}, R extends Result = Result>(def: {
  name: string;
  summary: string;
  args?: A;
  options?: O;
  session: CommandDef['session'];
  mutates: boolean;
  hidden?: boolean;
  tool?: Tier | false;
  destructive?: boolean;
  idempotent?: boolean;
  result?: () => Promise<ResultSchema>;
  run(input: Input<A, O>, ctx: Ctx, io: RunIO): Promise<R>;
  text?(result: R, input: Input<A, O>, ctx: Ctx): Text;
  textOnly?(input: Input<A, O>, result: R): boolean;
  stream?: StreamSpec<Input<A, O>>;
  silent?: boolean;
  serves?: boolean;
}): CommandDef<A, O, R> {
  return { args: {} as A, options: {} as O, text: () => null, ...def };
}

/**
 * The run of a server's record (`mcp`): the server is wiring above the table, so the CLI starts it
 * (cli.ts) and this is never called.
 */
export const served = async (): Promise<never> => {
  throw new Error('a server is started by the CLI (cli.ts), not by its record');
};

export const group = (name: string, summary: string): GroupDef => ({ group: name, summary });

/** `leaseToken` → `lease-token`. */
export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The one parser of numeric flags: a number within the flag's limits, or INVALID_INPUT naming the flag. */
export function parseNumber(raw: string, flag: string, limits: NumberLimits): number {
  const n = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(n) || n < limits.min || n > limits.max || (limits.integer && !Number.isInteger(n))) {
    const range = limits.min === Number.MIN_VALUE ? `up to ${limits.max}` : `${limits.min} to ${limits.max}`;
    throw invalidInput(`Invalid ${flag} '${raw}': give ${limits.what} (${range}).`);
  }
  return n;
}
