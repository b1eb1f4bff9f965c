/** Deterministic JSON: keys sorted at every level, two-space indent, trailing newline. */
export function stableStringify(value: unknown): string {
  return `${JSON.stringify(value, sortKeysReplacer, 2)}\n`;
}

function sortKeysReplacer(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(src).sort()) out[k] = src[k];
  return out;
}

/** 1-based line and column of a character offset. */
export function lineOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** Where JSON.parse failed, from V8's message ("... at position 12" or "(line 3 column 5)"). */
export function jsonErrorLine(text: string, err: unknown): number | null {
  const msg = err instanceof Error ? err.message : String(err);
  const lc = /line (\d+) column \d+/.exec(msg);
  if (lc) return Number(lc[1]);
  const pos = /position (\d+)/.exec(msg);
  if (pos) return lineOf(text, Number(pos[1])).line;
  if (/Unexpected end of JSON input/.test(msg)) return text.split('\n').length;
  return null;
}

/** First line starting a git merge-conflict marker, or null. */
export function conflictMarkerLine(text: string): number | null {
  const m = /^(<{7}|={7}|>{7})(?: |$)/m.exec(text);
  return m ? lineOf(text, m.index).line : null;
}

/** Code-unit order: deterministic everywhere and far cheaper than localeCompare (ICU). */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Adds `value` to the list under `key` in place (a copy per insert is quadratic in the list's length). */
export function appendTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** A list answer cut to `limit` items (all of them without one), and whether some were left out. */
export function bounded<T>(items: T[], limit: number | undefined): { items: T[]; truncated: boolean } {
  return limit === undefined || items.length <= limit ? { items, truncated: false } : { items: items.slice(0, limit), truncated: true };
}
