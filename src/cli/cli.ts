import { Command, CommanderError, Option } from 'commander';
import type { Ctx, RunIO, StreamItem } from '../commands/context.js';
import { BatonError, onBoardWarning } from '../rules/errors.js';
import { sha256 } from '../rules/digest.js';
import { checkKey } from '../store/idempotency.js';
import { VERSION } from '../rules/version.js';
import { type AnyCommand, type Input, isGroup, kebab, NUMBERS, type OptSpecs, opt, parseNumber } from '../table/define.js';
import { TABLE } from '../table/index.js';
import { detectColor, escapeTerminal, type OutputMode, type Out, printFailure, printSuccess } from './output.js';


/** What the CLI gets from its process (or from a test that runs it in-process). */
export interface System extends Out {
  cwd: string;
  env: Record<string, string | undefined>;
  /** The installed package's root (templates/ lives there). */
  packageRoot: string;
  /** How to run baton again (spawned children, the merge driver's git config line). */
  bin: string;
  /** stdout is a terminal (colour, watch redraws). */
  tty: boolean;
  columns(): number | undefined;
  /** The terminal's height, when stdout is one. */
  rows?(): number | undefined;
  /** Ends when the process is asked to stop: SIGINT, SIGTERM, or q on a terminal (screen streams). */
  quit(keys: boolean): { promise: Promise<void>; done(): void };
  /** A stream started: output that never ends by itself stops when its reader goes away. */
  streaming(): void;
}

/** The options every command takes: how to run it, not what it does (a keyed retry may change them). */
const GLOBALS = {
  json: opt.boolean('print exactly one JSON document on stdout'),
  dir: opt.string('path', 'the board directory (default: BATON_DIR, then the nearest project-plan/)'),
  lockTimeout: opt.number('seconds', NUMBERS.seconds, 'how long to wait for the board lock'),
  expectedRevision: opt.number('n', NUMBERS.seq, 'refuse (REVISION_CONFLICT) unless the board is at this revision'),
  idempotencyKey: opt.string('key', 'a retry with the same key returns the first answer instead of changing the board again'),
  session: opt.string('id', 'act as this session (default: BATON_SESSION)'),
  token: opt.string('token', "the session's token (default: BATON_TOKEN)"),
};

/** Adds a record's options to its commander command; every numeric flag goes through parseNumber. */
function addOptions(cmd: Command, options: OptSpecs): void {
  for (const [key, spec] of Object.entries(options)) {
    const flag = `--${kebab(key)}`;
    if (spec.kind === 'boolean') {
      cmd.option(flag, spec.description);
      if (spec.negation) cmd.option(`--no-${kebab(key)}`, spec.negation);
      continue;
    }
    const o = new Option(`${flag} <${spec.value}>`, spec.description);
    if (spec.kind === 'list') o.argParser((v: string, prev: string[] = []) => [...prev, v]);
    if (spec.kind === 'number') o.argParser((v: string) => parseNumber(v, flag, spec.limits));
    if (spec.kind === 'string' && spec.default !== undefined) o.default(spec.default);
    if (spec.kind === 'string' && spec.required) o.makeOptionMandatory();
    cmd.addOption(o);
  }
}

/** The command's full name, as typed: `review approve`. */
function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** A hash of what a command was asked to do, for an idempotency key's record. */
function callOf(input: Record<string, any>): string {
  const sorted = Object.fromEntries(Object.entries(input).sort(([x], [y]) => (x < y ? -1 : 1)));
  return sha256(JSON.stringify(sorted)).slice(0, 32);
}

function contextOf(sys: System, cmd: Command): Ctx {
  const o = cmd.optsWithGlobals() as Input<{}, typeof GLOBALS>;
  return {
    cwd: sys.cwd,
    env: sys.env,
    dir: o.dir,
    lockTimeoutMs: (o.lockTimeout ?? 10) * 1000,
    expectedRevision: o.expectedRevision,
    packageRoot: sys.packageRoot,
    bin: sys.bin,
    creds: { session: o.session ?? sys.env.BATON_SESSION, token: o.token ?? sys.env.BATON_TOKEN },
    warnings: [],
    idempotencyKey: o.idempotencyKey === undefined ? undefined : checkKey(o.idempotencyKey),
    command: pathOf(cmd),
    onTiming: sys.env.BATON_TIMINGS === '1' ? (t) => sys.stderr(`baton-timing ${JSON.stringify(t)}\n`) : undefined,
  };
}

/** Runs one command of the table and prints its answer; returns the exit code. */
async function execute(sys: System, mode: OutputMode, def: AnyCommand, input: Record<string, any>, cmd: Command): Promise<number> {
  const ctx = contextOf(sys, cmd);
  if (ctx.idempotencyKey) ctx.call = callOf(input);
  // Run by an agent client with no session given: the client's session (link.ts).
  if (def.session !== 'none' && !(ctx.creds.session && ctx.creds.token)) {
    const { linkedCreds } = await import('../commands/link.js');
    ctx.creds = (await linkedCreds(ctx, def.session === 'required')) ?? ctx.creds;
  }
  const streaming = def.stream !== undefined && (def.stream.when?.(input) ?? true);
  const screen = Boolean(def.stream?.screen) && sys.tty && !mode.json;
  const quit = streaming || def.serves ? sys.quit(screen) : { promise: new Promise<void>(() => undefined), done: () => undefined };
  let drawing = false;
  const io: RunIO = {
    tty: screen,
    width: () => sys.columns() ?? 100,
    // Only a screen has a height (less the line the cursor ends on): scrolling output shows every row.
    height: () => (screen ? (sys.rows?.() ?? 24) - 1 : Number.POSITIVE_INFINITY),
    quit: quit.promise,
    emit: (item: StreamItem) => {
      if (mode.json) {
        if (item.json !== undefined) sys.stdout(`${JSON.stringify(item.json)}\n`);
      } else if (screen) {
        // An alternate screen with the cursor hidden, redrawn whole for each frame.
        if (!drawing) sys.stdout('\u001b[?1049h\u001b[?25l');
        drawing = true;
        sys.stdout(`\u001b[H\u001b[2J${escapeTerminal(item.text)}\n`);
      } else sys.stdout(`${escapeTerminal(item.text)}\n${def.stream?.screen ? '\n' : ''}`);
    },
  };
  if (streaming) sys.streaming();
  try {
    const result = def.serves ? await (await import('../mcp/server.js')).serve(input, ctx, io) : await def.run(input, ctx, io);
    if (def.silent || def.serves || (streaming && !(mode.json && def.stream?.jsonResult))) return 0;
    if (def.textOnly?.(input, result)) {
      const text = await def.text(result, input, ctx);
      if (text !== null) sys.stdout(`${text}\n`);
      for (const w of ctx.warnings) sys.stderr(`warning: ${escapeTerminal(w)}\n`);
      return 0;
    }
    const warnings = ctx.replayed ? ['this key was used before: the change was already committed, and this is its first answer', ...ctx.warnings] : ctx.warnings;
    await printSuccess(sys, ctx.replayed ? { ...result, replayed: true } : result, mode, mode.json ? null : await def.text(result, input, ctx), warnings);
    return 0;
  } finally {
    if (drawing) sys.stdout('\u001b[?25h\u001b[?1049l');
    quit.done();
  }
}

/**
 * The table entries that `argv` runs: its command and the groups above it (`events`, `events ack`),
 * found as commander finds them; null when every entry is needed (help, or no command).
 * Declaring every command's arguments, options and action costs about 3 ms of a process that
 * lives 35, so the others are declared by name and summary only: enough for commander to refuse
 * an unknown command with a suggestion.
 */
function entriesRun(argv: string[]): Set<string> | null {
  const names = new Set(TABLE.map((e) => (isGroup(e) ? e.group : e.name)));
  const valued = (specs: OptSpecs, flag: string) => Object.entries(specs).some(([k, s]) => s.kind !== 'boolean' && `--${kebab(k)}` === flag);
  const run = new Set<string>();
  let path = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '-h' || a === '--help') return null;
    if (a.startsWith('-')) {
      const def = TABLE.find((e) => !isGroup(e) && e.name === path) as AnyCommand | undefined;
      if (!a.includes('=') && (valued(GLOBALS, a) || (def && valued(def.options, a)))) i++;
      continue;
    }
    const next = path ? `${path} ${a}` : a;
    if (!path && a === 'help') return null;
    if (!names.has(next)) break;
    run.add(next);
    path = next;
  }
  return path ? run : null;
}

/** The commander program of the table; `onRun` receives the chosen record and its input. */
function program(onRun: (def: AnyCommand, input: Record<string, any>, cmd: Command) => Promise<void>, out: Out, argv: string[]): Command {
  const root = new Command('baton')
    .description('A coordination board for teams of coding agents: project-plan/ with no server.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => out.stdout(s),
      writeErr: () => {
        /* commander's errors are reported as baton errors (usageError) */
      },
    });
  addOptions(root, GLOBALS);
  root.option('--no-color', 'no colours in human output');

  const run = entriesRun(argv);
  const byPath = new Map<string, Command>([['', root]]);
  for (const entry of TABLE) {
    const name = isGroup(entry) ? entry.group : entry.name;
    const parts = name.split(' ');
    const parent = byPath.get(parts.slice(0, -1).join(' '));
    if (!parent) throw new Error(`table: '${name}' comes before its parent`);
    const cmd = parent.command(parts.at(-1)!, { hidden: !isGroup(entry) && entry.hidden === true });
    byPath.set(name, cmd);
    cmd.description(entry.summary);
    if (isGroup(entry) || (run && !run.has(name))) continue;
    const def = entry;
    const argKeys = Object.keys(def.args);
    for (const key of argKeys) {
      const a = def.args[key]!;
      const shown = `${kebab(key)}${a.variadic ? '...' : ''}`;
      cmd.argument(a.required ? `<${shown}>` : `[${shown}]`, a.description);
    }
    addOptions(cmd, def.options);
    cmd.action(async (...given: unknown[]) => {
      const input: Record<string, any> = {};
      argKeys.forEach((k, i) => {
        if (given[i] !== undefined) input[k] = def.args[k]!.text ? (given[i] as string[]).join(' ') : given[i];
      });
      // A parent's option of the same name (events --cursor vs events ack --cursor) is parsed
      // by the parent: the command's own options are read over its parents'.
      const all = { ...cmd.optsWithGlobals(), ...cmd.opts() } as Record<string, unknown>;
      for (const k of Object.keys(def.options)) if (all[k] !== undefined) input[k] = all[k];
      await onRun(def, input, cmd);
    });
  }
  return root;
}

function usageError(e: CommanderError): BatonError {
  const message = e.message.replace(/^error:\s*/, '').split('\n')[0]!;
  const suggestion = /\(Did you mean ([^)?]+)\?\)/.exec(e.message)?.[1] ?? null;
  const msg = message.charAt(0).toUpperCase() + message.slice(1);
  return new BatonError('USAGE', `${msg}${suggestion ? ` Did you mean ${suggestion}?` : ''}`, {
    hint: suggestion ? `baton ${suggestion.replace(/^--/, '… --')}` : 'baton --help',
    details: { suggestion },
  });
}

/** Runs baton with these arguments (without the node and script paths); resolves to the exit code. */
export async function runCli(argv: string[], sys: System): Promise<number> {
  const mode: OutputMode = { json: argv.includes('--json'), color: detectColor(argv, sys.env, sys.tty) };
  // `eval "$(baton … --export)"`: a failure prints, besides its error on stderr, the one word that
  // makes the eval fail (an empty output would let it succeed with nothing set).
  const exporting = !mode.json && (argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv).includes('--export');
  const fail = (e: unknown): number => {
    const code = printFailure(sys, e, mode, sys.env);
    if (exporting) sys.stdout('false\n');
    return code;
  };
  // What core warns about while reading the board (an unknown key in config.yaml) is said on
  // stderr as soon as it is found, whatever the output mode: --json keeps stdout one document.
  onBoardWarning((message) => sys.stderr(`warning: ${escapeTerminal(message)}\n`));
  let code = 0;
  const root = program(async (def, input, cmd) => {
    try {
      code = await execute(sys, mode, def, input, cmd);
    } catch (e) {
      code = fail(e);
    }
  }, sys, argv);
  if (argv.length === 0) {
    root.outputHelp();
    return 0;
  }
  if (mode.json && (argv.includes('--version') || argv.includes('-V'))) {
    await printSuccess(sys, { revision: null, version: VERSION }, mode, null);
    return 0;
  }
  try {
    await root.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return fail(usageError(e));
    }
    return fail(e);
  }
  return code;
}
