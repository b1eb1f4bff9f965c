import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applyEdits, findNodeAtLocation, type FormattingOptions, modify, parse, parseTree, type ParseError, printParseErrorCode } from 'jsonc-parser';
import { invalidInput } from '../rules/errors.js';
import { writeFileAtomic } from '../store/store.js';

/**
 * An agent client's project file (`.mcp.json`, `.claude/settings.json`, `.vscode/mcp.json`, …) that
 * baton merges into: read it (null when there is none), take it as a JSON object, and change only
 * the keys baton owns, the way the clients' own editors do. The files are JSON with comments
 * (JSONC: VS Code's and Gemini's settings carry comments and trailing commas, and the clients
 * accept them), so they are parsed and edited with jsonc-parser, VS Code's own: every comment, the
 * key order and the formatting of the rest stay as the user wrote them. Shared by `mcp config`
 * and `hooks install`.
 */

export function readClientFile(root: string, file: string): string | null {
  try {
    return readFileSync(join(root, file), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The file as a JSON object (an empty or missing file is `{}`); a file that is not JSON with comments is refused, nothing written. */
export function parseClientJson(file: string, text: string | null, hint: string): Record<string, unknown> {
  if (text === null || !text.trim()) return {};
  const errors: ParseError[] = [];
  const doc = parse(text, errors, { allowTrailingComma: true, disallowComments: false }) as unknown;
  if (errors.length) {
    const e = errors[0]!;
    const line = text.slice(0, e.offset).split('\n').length;
    throw invalidInput(`${file}:${line} is not JSON (${printParseErrorCode(e.error)}), so baton will not rewrite it.`, hint);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalidInput(`${file} is not a JSON object.`, `fix ${file} by hand`);
  return doc as Record<string, unknown>;
}

/** The file's own indentation and line ends, for what baton inserts. */
function formatOf(text: string): FormattingOptions {
  const indent = /^([ \t]+)\S/m.exec(text)?.[1] ?? '  ';
  return { insertSpaces: !indent.startsWith('\t'), tabSize: indent.startsWith('\t') ? 1 : indent.length, eol: text.includes('\r\n') ? '\r\n' : '\n' };
}

/**
 * The text with the value at `path` set (undefined: removed), everything else untouched; a file
 * that does not exist yet is written as plain JSON, two spaces, one key a line.
 */
export function editClientJson(text: string | null, path: (string | number)[], value: unknown): string {
  if (text === null || !text.trim()) {
    const doc: Record<string, unknown> = {};
    let at: Record<string, unknown> = doc;
    for (const k of path.slice(0, -1)) at = (at[k as string] = {}) as Record<string, unknown>;
    if (value !== undefined) at[path.at(-1) as string] = value;
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  if (value === undefined) {
    const cut = wholeLines(text, path);
    if (cut) return `${text.slice(0, cut[0])}${text.slice(cut[1])}`;
  }
  // A new key goes first in its object: inserting after the last one would put it between that
  // key and a comment at the end of its line (`"x": 1, // why`), carrying the comment away.
  const out = applyEdits(text, modify(text, path, value, { formattingOptions: formatOf(text), getInsertionIndex: () => 0 }));
  return out.endsWith('\n') || !text.endsWith('\n') ? out : `${out}\n`;
}

/**
 * The lines a key takes when it is not its object's last and sits on lines of its own (as baton
 * inserts its keys): removing exactly them leaves every comment around it where it was, where the
 * library's removal takes the comments between it and the next key with it.
 */
function wholeLines(text: string, path: (string | number)[]): [number, number] | null {
  const prop = findNodeAtLocation(parseTree(text, [], { allowTrailingComma: true }) ?? { type: 'null', offset: 0, length: 0 }, path)?.parent;
  if (!prop || prop.type !== 'property') return null;
  const siblings = prop.parent?.children ?? [];
  if (siblings.at(-1) === prop) return null;
  const start = text.lastIndexOf('\n', prop.offset - 1) + 1;
  if (text.slice(start, prop.offset).trim()) return null;
  const after = /^[ \t]*,[ \t]*\r?\n/.exec(text.slice(prop.offset + prop.length));
  return after ? [start, prop.offset + prop.length + after[0].length] : null;
}

export function writeClientFile(root: string, file: string, content: string): void {
  const path = join(root, file);
  if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, content);
}
