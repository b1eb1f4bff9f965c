import { existsSync, mkdirSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../rules/digest.js';
import { BatonError, invalidInput } from '../rules/errors.js';
import { writeFileAtomic } from './store.js';
import type { Task } from '../rules/types.js';

/**
 * Results by reference (SPEC §14): what a task produced (`done --result FILE|-`), any size, text
 * or JSON, stored once under the board's `results/`, named by its content (sha-256), so the same
 * result is kept once however many tasks name it. The task records only `{ref, size, kind,
 * summary}`: state.json stays small, and `wait`, `ps` and `show` give the summary, never the text.
 * `results/` is committed with the board (not ignored): a result belongs to the work's record, and
 * a parent on another clone (git sync) can read what its child produced.
 */

const RESULTS_DIR = 'results';
const SUMMARY_CHARS = 300;
const REF_RE = /^results\/[0-9a-f]{24}\.(txt|json)$/;

export type ResultRecord = NonNullable<Task['result']>;

/** The summary: a JSON result's top-level keys (or its length), else the first characters of the text. */
function summarize(text: string, json: unknown): string {
  if (json !== undefined) {
    if (Array.isArray(json)) return `JSON array of ${json.length} item(s)`;
    if (json && typeof json === 'object') {
      const keys = Object.keys(json);
      const shown = keys.slice(0, 20).join(', ');
      return `JSON object with key(s): ${shown}${keys.length > 20 ? `, … (${keys.length} in all)` : ''}`.slice(0, SUMMARY_CHARS);
    }
    return `JSON ${JSON.stringify(json)}`.slice(0, SUMMARY_CHARS);
  }
  const first = firstChars(text, SUMMARY_CHARS);
  return first.cut ? `${first.text}…` : first.text;
}

/**
 * The first `max` characters (code points, so no emoji is split) of a text, and whether it had
 * more; only the start of the text is looked at.
 */
export function firstChars(text: string, max: number): { text: string; cut: boolean } {
  // max + 1 code points take at most 2 max + 2 UTF-16 units.
  const chars = [...text.slice(0, max * 2 + 2)];
  return chars.length > max ? { text: chars.slice(0, max).join(''), cut: true } : { text, cut: false };
}

/** Stores a result under results/ (once: an equal one is already there) and says how to find it. */
export function storeResult(dir: string, text: string): ResultRecord {
  let json: unknown;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === 'object') json = parsed;
  } catch {
    json = undefined;
  }
  const kind = json === undefined ? 'text' : 'json';
  const hash = sha256(text).slice(0, 24);
  const ref = `${RESULTS_DIR}/${hash}.${kind === 'json' ? 'json' : 'txt'}`;
  const path = join(dir, ref);
  if (!existsSync(path)) {
    mkdirSync(join(dir, RESULTS_DIR), { recursive: true });
    writeFileAtomic(path, text);
  } else {
    // Stored before: made young again, so `baton gc` does not take it while this done commits.
    const now = new Date();
    utimesSync(path, now, now);
  }
  return { ref, size: Buffer.byteLength(text), kind, summary: summarize(text, json) };
}

/** A stored result's text (a ref that is not one of baton's own is refused: no path leaves the board). */
export function readResult(dir: string, ref: string): string {
  if (!REF_RE.test(ref)) throw invalidInput(`'${ref}' is not a result reference (results/HASH.txt or .json).`);
  try {
    return readFileSync(join(dir, ref), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new BatonError('NOT_FOUND', `The result file ${ref} is missing from this board.`, {
      hint: 'it is committed with the board: pull or sync from the clone that stored it (or restore it from git)',
      details: { kind: 'result', id: ref },
    });
  }
}
