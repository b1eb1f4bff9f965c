// Its own module, imported with `await import('./yaml.js')`: most commands parse no YAML, and
// the bundle loads the yaml package only when this module is first used.
import { parseDocument } from 'yaml';

/**
 * How far aliases may expand (the yaml package's `maxAliasCount`: uses of an anchor times the
 * aliases inside it). Nested aliases multiply ("billion laughs": a few lines that expand to
 * 10^9 nodes); a plan that reuses a list of paths on every task stays far below this.
 */
export const MAX_YAML_ALIASES = 1000;

export type YamlResult =
  | { ok: true; value: unknown }
  | {
      ok: false;
      /** syntax: not YAML; aliases: expands past MAX_YAML_ALIASES or uses an undefined anchor. */
      kind: 'syntax' | 'aliases';
      message: string;
      line: number | null;
    };

/** Parses YAML text into plain values; never throws for anything the text can contain. */
export function parseYaml(text: string): YamlResult {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    return { ok: false, kind: 'syntax', message: err.message.split('\n')[0]!, line: err.linePos?.[0]?.line ?? null };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) };
  } catch (e) {
    // The yaml package throws a ReferenceError for an alias past the limit or without an anchor.
    const excessive = /excessive alias count/i.test((e as Error).message);
    return {
      ok: false,
      kind: 'aliases',
      message: excessive ? `its aliases expand too far (over ${MAX_YAML_ALIASES} alias expansions, a "billion laughs" file)` : (e as Error).message.split('\n')[0]!,
      line: null,
    };
  }
}
