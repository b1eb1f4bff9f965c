import { createRequire } from 'node:module';
import type Picomatch from 'picomatch';

// Loaded on first use: most commands never compare owned paths, and start-up is the product.
let pm: typeof Picomatch | null = null;
const picomatch = (): typeof Picomatch => (pm ??= createRequire(import.meta.url)('picomatch') as typeof Picomatch);

/**
 * Whether two owned-path globs can name a common file. Deciding that exactly for arbitrary
 * globs is hard, so this errs on the side of "yes": two globs overlap when the literal
 * directory in front of one contains the other's (picomatch.scan gives that base). Two
 * literal paths overlap when equal or when one is a directory holding the other. A literal
 * path against a glob is matched exactly with picomatch. A false "yes" only serialises two
 * tasks; a false "no" would let two agents edit one file.
 */
export function pathsOverlap(a: string, b: string): boolean {
  const A = scanned(a);
  const B = scanned(b);
  if (!A.isGlob && !B.isGlob) return a === b || within(a, b) || within(b, a);
  if (!A.isGlob) return literalMeetsGlob(a, b, B.base);
  if (!B.isGlob) return literalMeetsGlob(b, a, A.base);
  return within(A.base, B.base) || within(B.base, A.base) || A.base === B.base;
}

// A ranking compares every ready task's paths with every path in flight, a few patterns many
// times over: each is scanned and compiled once, and a long-lived process (the MCP server)
// starts the caches afresh past CACHED patterns.
const CACHED = 10_000;
const scans = new Map<string, { isGlob: boolean; base: string }>();
const matchers = new Map<string, (path: string) => boolean>();

function scanned(glob: string): { isGlob: boolean; base: string } {
  let s = scans.get(glob);
  if (!s) {
    if (scans.size >= CACHED) scans.clear();
    const { isGlob, base } = picomatch().scan(glob);
    scans.set(glob, (s = { isGlob, base }));
  }
  return s;
}

function matcher(glob: string): (path: string) => boolean {
  let m = matchers.get(glob);
  if (!m) {
    if (matchers.size >= CACHED) matchers.clear();
    matchers.set(glob, (m = picomatch()(glob, { dot: true })));
  }
  return m;
}

/** True when `inner` is `outer` or lies under the directory `outer` ('' holds everything). */
function within(inner: string, outer: string): boolean {
  if (outer === '' || inner === outer) return true;
  return inner.startsWith(`${outer.replace(/\/+$/, '')}/`);
}

function literalMeetsGlob(literal: string, glob: string, base: string): boolean {
  // The literal is a directory holding the glob's matches, or the glob matches it (or
  // something under it, when it is a directory).
  if (within(base, literal)) return true;
  const m = matcher(glob);
  return m(literal) || m(`${literal}/x`) || m(`${literal}/x/y`);
}

export function setsOverlap(a: readonly string[], b: readonly string[]): [string, string] | null {
  for (const x of a) for (const y of b) if (pathsOverlap(x, y)) return [x, y];
  return null;
}

/** Does the owned glob (or literal directory) cover this concrete path? */
export function ownsPath(owned: string, path: string): boolean {
  const s = scanned(owned);
  if (!s.isGlob) return path === owned || within(path, owned);
  return matcher(owned)(path);
}
