import { BatonError, EXIT_CODES } from '../core/errors.js';

export interface OutputMode {
  json: boolean;
  color: boolean;
}

/** Colour only for people: a TTY, no NO_COLOR, no --no-color, never with --json. */
export function detectColor(argv: string[], env: Record<string, string | undefined>, isTTY: boolean): boolean {
  if (argv.includes('--json') || argv.includes('--no-color')) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return isTTY;
}

export async function printSuccess(result: Record<string, unknown> & { revision: number }, mode: OutputMode, text: string | null): Promise<void> {
  if (mode.json) {
    const { revision, ...rest } = result;
    process.stdout.write(`${JSON.stringify({ ok: true, revision, ...rest })}\n`);
  } else if (text) {
    process.stdout.write(`${mode.color ? (await import('./colour.js')).decorate(text) : text}\n`);
  }
}

export function toBatonError(e: unknown): BatonError {
  if (e instanceof BatonError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EACCES' || err?.code === 'EPERM' || err?.code === 'EROFS') {
    return new BatonError('INVALID_INPUT', `Permission denied: ${err.path ?? err.message}.`, { hint: 'check the board directory is writable by you' });
  }
  if (err?.code === 'ENOSPC') return new BatonError('INTERNAL', 'The disk is full; nothing was committed.', { hint: 'free some space and retry' });
  return new BatonError('INTERNAL', `Internal error: ${err?.message ?? String(e)}`, {
    hint: 'this is a bug in baton: rerun with BATON_DEBUG=1 and report the output with the command you ran',
  });
}

/** Prints a failure and returns the exit code; the stack only under BATON_DEBUG=1. */
export function printFailure(e: unknown, mode: OutputMode, env: Record<string, string | undefined>): number {
  const err = toBatonError(e);
  if (env.BATON_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  if (mode.json) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: err.toJSON() })}\n`);
  } else {
    process.stderr.write(`${mode.color ? '\u001b[31merror\u001b[39m' : 'error'}: ${err.message}${err.hint ? `\n  next: ${err.hint}` : ''}\n`);
  }
  return EXIT_CODES[err.code];
}
