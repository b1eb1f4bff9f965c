import { randomBytes } from './digest.js';
import { invalidInput } from './errors.js';

const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Checks a task id, agent name or cursor name before it is used anywhere, above all in a
 * file name: case-folded, then matched against SPEC §2's pattern. Returns the folded id.
 */
export function checkId(raw: unknown, what = 'id'): string {
  if (typeof raw !== 'string') throw invalidInput(`The ${what} must be a string.`);
  const id = raw.toLowerCase();
  if (!ID_RE.test(id)) {
    const shown = raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
    throw invalidInput(
      `Invalid ${what} '${shown.replace(/[\u0000-\u001f]/g, '?')}': use 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit.`,
      undefined,
      { field: what },
    );
  }
  return id;
}


const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * Length of a minted id for a board that already holds `count` ids: long enough that
 * 36^len >= 1e6 * (count + 1)^2, so an id minted on one branch meets one minted on another
 * branch of the same size with odds of about one in a million. Never below 4 characters.
 */
export function idLength(count: number): number {
  const needed = Math.log(1e6 * (count + 1) ** 2) / Math.log(36);
  return Math.max(4, Math.ceil(needed));
}

export function randomSuffix(length: number): string {
  // 256 % 36 != 0, so reject bytes >= 252 to keep every character equally likely.
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 252 && out.length < length) out += ALPHABET[b % 36];
    }
  }
  return out;
}

/** Mints a fresh random id like `t-7f3k` that is not in `taken`. */
export function mintId(prefix: string, taken: (id: string) => boolean, count: number): string {
  let len = idLength(count);
  for (let attempt = 0; ; attempt++) {
    const id = `${prefix}-${randomSuffix(len)}`;
    if (!taken(id)) return id;
    if (attempt % 4 === 3) len++;
  }
}
