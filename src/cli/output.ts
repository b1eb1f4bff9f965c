import { BatonError, diskFull, EXIT_CODES, ioError, isDiskFull, isIoError } from '../rules/errors.js';

export interface OutputMode {
  json: boolean;
  color: boolean;
}

/** Where output goes: the process's stdout and stderr, or a test's buffers. */
export interface Out {
  stdout(s: string): void;
  stderr(s: string): void;
}

/** Colour only for people: a TTY, no NO_COLOR, no --no-color, never with --json. */
export function detectColor(argv: string[], env: Record<string, string | undefined>, isTTY: boolean): boolean {
  if (argv.includes('--json') || argv.includes('--no-color')) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return isTTY;
}

/**
 * Control characters a terminal would act on: C0 but tab and newline (renderers print
 * multi-line descriptions on purpose), a carriage return not ending a line (it can overwrite
 * what was printed), DEL, C1 (0x9b alone starts a CSI on some terminals), the line and
 * paragraph separators, and the bidi marks, embeddings, overrides and isolates that reorder
 * what is shown.
 */
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|\r(?!\n)/g;

/**
 * Human text with every terminal control shown as an escape (`\x1b`, `\u202e`), so user text
 * (a title, a note) can't move the cursor, retitle the window, hide text or fake a line.
 * Applied to the whole text before `decorate` adds baton's own colours; `--json` output never
 * passes through here.
 */
export function escapeTerminal(text: string): string {
  return text.replace(TERMINAL_CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Prints a command's result. `warnings` are what failed after the commit point (the change
 * stands): in JSON they join the result's own `warnings`, for people they go to stderr.
 */
export async function printSuccess(out: Out, result: Record<string, unknown> & { revision: number | null }, mode: OutputMode, text: string | null, warnings: string[] = []): Promise<void> {
  if (mode.json) {
    out.stdout(`${JSON.stringify(successDoc(result, warnings))}\n`);
    return;
  }
  if (text) {
    const safe = escapeTerminal(text);
    out.stdout(`${mode.color ? (await import('./colour.js')).decorate(safe) : safe}\n`);
  }
  for (const w of warnings) out.stderr(`warning: ${escapeTerminal(w)}\n`);
}

/** A result as `--json` prints it (and an MCP tool answers it): `ok`, the revision, the result, its warnings. */
export function successDoc(result: Record<string, unknown> & { revision: number | null }, warnings: string[] = []): Record<string, unknown> {
  const { revision, ...rest } = result;
  const doc: Record<string, unknown> = { ok: true, revision, ...rest };
  if (warnings.length) doc.warnings = [...(Array.isArray(rest.warnings) ? (rest.warnings as unknown[]) : []), ...warnings];
  return doc;
}

/** Any failure as a baton error: a known errno (permission, disk full, an I/O error) by its code, the rest INTERNAL. */
export function toBatonError(e: unknown): BatonError {
  if (e instanceof BatonError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EACCES' || err?.code === 'EPERM' || err?.code === 'EROFS') {
    return new BatonError('INVALID_INPUT', `Permission denied: ${err.path ?? err.message}.`, { hint: 'check the board directory is writable by you' });
  }
  if (isDiskFull(err)) return diskFull(err);
  if (isIoError(err)) return ioError(err);
  return new BatonError('INTERNAL', `Internal error: ${err?.message ?? String(e)}`, {
    hint: 'this is a bug in baton: rerun with BATON_DEBUG=1 and report the output with the command you ran',
  });
}

/** Prints a failure and returns the exit code; the stack only under BATON_DEBUG=1. */
export function printFailure(out: Out, e: unknown, mode: OutputMode, env: Record<string, string | undefined>): number {
  const err = toBatonError(e);
  if (env.BATON_DEBUG === '1' && e instanceof Error) out.stderr(`${e.stack}\n`);
  if (mode.json) {
    out.stdout(`${JSON.stringify({ ok: false, error: err.toJSON() })}\n`);
  } else {
    // Messages quote what was given (a title, a path): escaped like any human text.
    const text = escapeTerminal(`${err.message}${err.hint ? `\n  next: ${err.hint}` : ''}`);
    out.stderr(`${mode.color ? '\u001b[31merror\u001b[39m' : 'error'}: ${text}\n`);
  }
  return EXIT_CODES[err.code];
}
