import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { invalidInput } from './errors.js';
import { writeFileAtomic } from './store.js';

/**
 * An agent client's project file (`.mcp.json`, `.claude/settings.json`, …) that baton merges
 * into: read it (null when there is none), take it as a JSON object or refuse to touch it, and
 * write it back whole. Shared by `mcp config` and `hooks install`.
 */

export function readClientFile(root: string, file: string): string | null {
  try {
    return readFileSync(join(root, file), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The file as a JSON object (an empty or missing file is `{}`); anything else is refused, nothing written. */
export function parseClientJson(file: string, text: string | null, hint: string): Record<string, unknown> {
  if (text === null || !text.trim()) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalidInput(`${file} is not plain JSON (comments?), so baton will not rewrite it.`, hint);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalidInput(`${file} is not a JSON object.`, `fix ${file} by hand`);
  return doc as Record<string, unknown>;
}

export function writeClientFile(root: string, file: string, content: string): void {
  const path = join(root, file);
  if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, content);
}
