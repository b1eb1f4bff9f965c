/**
 * Stable error codes of SPEC §3; agents branch on these, so each has one meaning and never changes
 * it (README "Exit codes"). Those of exit 3, the board forbids it:
 * - INVALID_TRANSITION: the task's (gate's, question's, handoff's, child's) state does not allow the move;
 * - LIMIT_REACHED: a configured limit (the profile's in-flight limit, spawn.max_depth, spawn.max_parallel);
 * - NOT_YOURS: the work is another agent's: held by a live session, addressed to another, sent back
 *   to its author, or a review its author may not give;
 * - ALREADY_JOINED: a live session already acts here (the client's, the orchestrator's), and a new one would be a second agent;
 * - TASK_ARCHIVED: the task is in the archive, which does not change;
 * - MERGE_FAILED: a git merge of the board needs a person (sync, the merge driver).
 */
export type ErrorCode =
  | 'INTERNAL'
  | 'USAGE'
  | 'INVALID_INPUT'
  | 'DEPENDENCY_CYCLE'
  | 'REVISION_CONFLICT'
  | 'LEASE_CONFLICT'
  | 'PATH_CONFLICT'
  | 'RATE_LIMITED'
  | 'MERGE_FAILED'
  | 'INVALID_TRANSITION'
  | 'LIMIT_REACHED'
  | 'NOT_YOURS'
  | 'ALREADY_JOINED'
  | 'TASK_ARCHIVED'
  | 'NOT_FOUND'
  | 'NO_BOARD'
  | 'BOARD_BUSY'
  | 'DISK_FULL'
  | 'IO_ERROR'
  | 'NO_WORK'
  | 'BOARD_CORRUPT'
  | 'BOARD_TOO_NEW'
  | 'AUTH_REQUIRED'
  | 'AUTH_FAILED'
  | 'SESSION_ENDED';

export const EXIT_CODES: Record<ErrorCode, number> = {
  INTERNAL: 1,
  USAGE: 2,
  INVALID_INPUT: 2,
  DEPENDENCY_CYCLE: 2,
  REVISION_CONFLICT: 3,
  LEASE_CONFLICT: 3,
  PATH_CONFLICT: 3,
  RATE_LIMITED: 3,
  MERGE_FAILED: 3,
  INVALID_TRANSITION: 3,
  LIMIT_REACHED: 3,
  NOT_YOURS: 3,
  ALREADY_JOINED: 3,
  TASK_ARCHIVED: 3,
  NOT_FOUND: 4,
  NO_BOARD: 4,
  BOARD_BUSY: 5,
  DISK_FULL: 5,
  IO_ERROR: 5,
  NO_WORK: 6,
  BOARD_CORRUPT: 7,
  BOARD_TOO_NEW: 7,
  AUTH_REQUIRED: 8,
  AUTH_FAILED: 8,
  SESSION_ENDED: 8,
};

export class BatonError extends Error {
  readonly code: ErrorCode;
  /** A concrete next step, usually the exact command to run. */
  readonly hint: string | null;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'BatonError';
    this.code = code;
    this.hint = opts.hint ?? null;
    this.details = opts.details ?? {};
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, ...this.details };
  }
}

export function invalidInput(message: string, hint?: string, details?: Record<string, unknown>): BatonError {
  return new BatonError('INVALID_INPUT', message, { hint, details });
}

export function notFound(kind: string, id: string, hint?: string): BatonError {
  return new BatonError('NOT_FOUND', `No ${kind} '${id}' on this board.`, {
    hint: hint ?? (kind === 'task' ? 'baton list' : undefined),
    details: { kind, id },
  });
}

/**
 * Warnings met while reading the board that belong to no command's result (an unknown key in
 * config.yaml). Core never prints: the CLI names where they go; until it does they go nowhere.
 */
let boardWarningHandler: (message: string) => void = () => {};

export function onBoardWarning(handler: (message: string) => void): void {
  boardWarningHandler = handler;
}

export const warnAboutBoard = (message: string): void => boardWarningHandler(message);

const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** True for a write that failed because the disk or the user's quota is full. */
export const isDiskFull = (e: unknown): boolean => DISK_FULL_CODES.has((e as NodeJS.ErrnoException)?.code ?? '');

export function diskFull(e: unknown, committed = false): BatonError {
  const err = e as NodeJS.ErrnoException;
  const what = err.code === 'EDQUOT' ? 'The disk quota is used up' : 'The disk is full';
  return new BatonError('DISK_FULL', `${what}${err.path ? ` (writing ${err.path})` : ''}; ${committed ? 'the change was committed' : 'nothing was committed'}.`, {
    hint: 'free some space, then retry the command',
    details: { errno: err.code ?? null },
  });
}

/**
 * Errors of the storage itself, other than a full disk: a failing disk or controller (EIO), a device
 * gone (ENXIO, ENODEV), a network file system's stale handle or lost server (ESTALE, EREMOTEIO,
 * ETIMEDOUT), a FUSE file system whose daemon died (ENOTCONN).
 */
const IO_ERROR_CODES = new Set(['EIO', 'ENXIO', 'ENODEV', 'ESTALE', 'EREMOTEIO', 'ETIMEDOUT', 'ENOTCONN']);

/** True for a read or write the storage failed (not a full disk, not a permission). */
export const isIoError = (e: unknown): boolean => IO_ERROR_CODES.has((e as NodeJS.ErrnoException)?.code ?? '');

export function ioError(e: unknown, committed = false): BatonError {
  const err = e as NodeJS.ErrnoException;
  const verb = err.syscall === 'read' || err.syscall === 'open' || err.syscall === 'stat' || err.syscall === 'scandir' ? 'at' : 'writing';
  return new BatonError('IO_ERROR', `The storage failed with ${err.code ?? 'an I/O error'}${err.path ? ` ${verb} ${err.path}` : ''}; ${committed ? 'the change was committed' : 'nothing was committed'}.`, {
    hint: 'check the disk or file system the board is on (its mount, dmesg), then retry; baton doctor says whether the board is whole',
    details: { errno: err.code ?? null },
  });
}
