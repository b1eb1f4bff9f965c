import * as z from 'zod/mini';
import type { AnyCommand, ArgSpec, OptSpec } from './define.js';

/**
 * A command's input as one zod schema, made from its record: the arguments and options the CLI
 * parses are exactly the fields a tool call may carry (same names, kinds, limits and defaults).
 * Built on demand, so a command run from the shell never loads zod for it.
 */
export function inputSchema(def: AnyCommand) {
  const shape: Record<string, z.ZodMiniType> = {};
  for (const [key, a] of Object.entries(def.args as Record<string, ArgSpec>)) shape[key] = argSchema(a);
  for (const [key, o] of Object.entries(def.options as Record<string, OptSpec>)) shape[key] = optionSchema(o);
  return z.strictObject(shape);
}

/** One argument's or option's schema (an MCP tool's field; `optional` lifts a required argument). */
export function fieldSchema(spec: ArgSpec | OptSpec, optional = false): z.ZodMiniType {
  const s = spec.kind === 'arg' ? argSchema(spec) : optionSchema(spec);
  return optional && spec.kind === 'arg' && spec.required ? z.optional(s) : s;
}

/**
 * The shape of a command's `--json` result (the `ok` envelope aside): the record's own schema,
 * or an object with at least the board revision every result carries.
 */
export async function resultSchema(def: AnyCommand): Promise<z.ZodMiniType> {
  return ((await def.result?.()) as z.ZodMiniType | undefined) ?? z.looseObject({ revision: z.number() });
}

function described<T extends z.ZodMiniType>(schema: T, description: string | undefined): T {
  return description ? schema.check(z.describe(description)) : schema;
}

function argSchema(a: ArgSpec): z.ZodMiniType {
  if (a.text) return described(z.string().check(z.minLength(1)), a.description);
  if (a.variadic) return described(z.array(z.string()).check(z.minLength(1)), a.description);
  const s = described(z.string(), a.description);
  return a.required ? s : z.optional(s);
}

function optionSchema(o: OptSpec): z.ZodMiniType {
  switch (o.kind) {
    case 'boolean':
      return z.optional(described(z.boolean(), o.description));
    case 'list':
      return z.optional(described(z.array(z.string()), o.description));
    case 'number': {
      const n = o.limits.integer ? z.int() : z.number();
      return z.optional(described(n.check(z.gte(o.limits.min), z.lte(o.limits.max)), o.description));
    }
    case 'string': {
      const s = described(z.string(), o.description);
      if (o.default !== undefined) return z._default(s, o.default);
      return o.required ? s : z.optional(s);
    }
  }
}
