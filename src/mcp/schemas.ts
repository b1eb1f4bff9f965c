import * as z from 'zod/mini';
import { fieldSchema, resultSchema } from '../table/jsonschemas.js';
import type { Tool } from './tools.js';

/**
 * A tool's input and output schemas, from its command's record: zod to check a call with, and
 * the JSON Schema tools/list shows (kept small: every tool the client lists costs its context).
 */

export function inputZod(tool: Tool) {
  const shape: Record<string, z.ZodMiniType> = {};
  for (const f of tool.fields) shape[f.name] = fieldSchema(f.spec, f.optional);
  return z.strictObject(shape);
}

/** The tool's answer: the command's `--json` document, `ok: true` and all. */
async function outputZod(tool: Tool) {
  const result = (await resultSchema(tool.command)) as z.ZodMiniObject;
  return z.extend(result, { ok: z.literal(true) });
}

export function inputJson(tool: Tool): Record<string, unknown> {
  return compact(z.toJSONSchema(inputZod(tool), { io: 'input' })) as Record<string, unknown>;
}

/** A refusal's structured content: the CLI's error, `{code, message, hint}` and its details. */
const REFUSAL = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: ['string', 'null'] } }, required: ['code', 'message'] };

/**
 * The tool's answer, or its refusal: clients check a result's structured content against this
 * schema, and Gemini CLI's does it on a refusal too (finding nothing there, it checks an empty
 * object and hands the model its own complaint instead of baton's code, message and hint).
 */
export async function outputJson(tool: Tool): Promise<Record<string, unknown>> {
  // A schema used twice (the task in status's five lists) is written once, under $defs.
  const { $defs, type: _object, ...answer } = compact(z.toJSONSchema(await outputZod(tool), { io: 'output', reused: 'ref' })) as Record<string, unknown>;
  return { type: 'object', anyOf: [answer, REFUSAL], ...($defs ? { $defs } : {}) };
}

/** Drops what says nothing: `$schema`, an empty `additionalProperties`, and the bounds every number has anyway. */
function compact(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(compact);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema') continue;
    if (k === 'additionalProperties' && v && typeof v === 'object' && Object.keys(v).length === 0) continue;
    if ((k === 'maximum' && v === Number.MAX_SAFE_INTEGER) || (k === 'minimum' && v === Number.MIN_SAFE_INTEGER)) continue;
    if (k === 'minimum' && v === Number.MIN_VALUE) {
      out.exclusiveMinimum = 0;
      continue;
    }
    out[k] = compact(v);
  }
  return out;
}
