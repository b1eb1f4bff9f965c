import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { type AnyCommand, type ArgSpecs, isGroup, kebab, type OptSpecs, NUMBERS, parseNumber } from '../src/table/define.js';
import { TABLE } from '../src/table/index.js';
import { inputSchema, resultSchema } from '../src/table/jsonschemas.js';
import { batonIn, makeBoardIn, tempDir } from './helpers.js';

const commands = TABLE.filter((e): e is AnyCommand => !isGroup(e));
const names = TABLE.map((e) => (isGroup(e) ? e.group : e.name));

describe('the command table', () => {
  it('names each command once, after its parent, with a one-line summary; no argument shares a name with an option', () => {
    expect(new Set(names).size).toBe(names.length);
    names.forEach((n, i) => {
      const parent = n.split(' ').slice(0, -1).join(' ');
      if (parent) expect(names.slice(0, i), n).toContain(parent);
    });
    for (const e of TABLE) expect(e.summary, isGroup(e) ? e.group : e.name).toMatch(/^[^\n]{8,200}$/);
    for (const c of commands) {
      for (const k of Object.keys(c.args)) expect(Object.keys(c.options), `${c.name} ${k}`).not.toContain(k);
      if (c.session === 'required') expect(c.name.startsWith('__') || c.mutates || c.name === 'next' || c.name === 'inbox', c.name).toBe(true);
    }
  });

  it('every command, nested ones too, answers its own --help with its usage, arguments and every flag of its record', async () => {
    const cwd = tempDir();
    for (const c of commands.filter((x) => !x.hidden)) {
      const h = await batonIn([...c.name.split(' '), '--help'], { cwd });
      expect(h.code, c.name).toBe(0);
      expect(h.stdout, c.name).toMatch(new RegExp(`^Usage: baton ${c.name}\\b`));
      for (const key of Object.keys(c.options)) expect(h.stdout, `${c.name} --${kebab(key)}`).toContain(`--${kebab(key)}`);
      for (const key of Object.keys(c.args)) expect(h.stdout, `${c.name} ${key}`).toContain(kebab(key));
    }
  });

  it("a command's input schema has exactly its arguments and options, with the numeric limits the CLI enforces", () => {
    for (const c of commands) {
      const schema = inputSchema(c);
      expect(Object.keys(schema.def.shape).sort(), c.name).toEqual([...Object.keys(c.args), ...Object.keys(c.options)].sort());
      const json = z.toJSONSchema(schema) as { properties: Record<string, { type?: string; minimum?: number; maximum?: number }>; required?: string[] };
      for (const [k, o] of Object.entries(c.options as OptSpecs)) {
        if (o.kind === 'number') expect(json.properties[k], `${c.name} ${k}`).toMatchObject({ minimum: o.limits.min, maximum: o.limits.max });
        if (o.kind === 'boolean') expect(json.properties[k]!.type).toBe('boolean');
      }
      for (const [k, a] of Object.entries(c.args as ArgSpecs)) if (a.required) expect(json.required ?? [], `${c.name} ${k}`).toContain(k);
    }
    const claim = inputSchema(commands.find((c) => c.name === 'claim-next')!);
    expect(z.safeParse(claim, { watch: 30, explain: true }).success).toBe(true);
    expect(z.safeParse(claim, { watch: -1 }).success).toBe(false);
    expect(z.safeParse(claim, { wat: 1 }).success).toBe(false);
  });

  it("a command's result schema describes its --json answer (without the ok envelope), and refuses one without a revision", async () => {
    const board = await makeBoardIn();
    for (const name of ['status', 'list', 'add']) {
      const c = commands.find((x) => x.name === name)!;
      const { ok, _code, ...answer } = await board.json(...(name === 'add' ? ['add', 'a task'] : [name]));
      expect([ok, _code]).toEqual([true, 0]);
      const schema = await resultSchema(c);
      expect(z.safeParse(schema, answer).success, name).toBe(true);
      expect(z.safeParse(schema, { ...answer, revision: 'one' }).success, name).toBe(false);
    }
  });

  it('one numeric parser: refuses what is not a number, out of range or not whole, naming the flag', () => {
    expect(parseNumber('30', '--watch', NUMBERS.seconds)).toBe(30);
    expect(parseNumber('0.5', '--lock-timeout', NUMBERS.seconds)).toBe(0.5);
    for (const bad of ['', ' ', 'abc', '-1', '1e9', 'NaN', 'Infinity']) expect(() => parseNumber(bad, '--watch', NUMBERS.seconds), bad).toThrow(/Invalid --watch/);
    expect(() => parseNumber('1.5', '--limit', NUMBERS.count)).toThrow(/--limit '1.5': give a whole number/);
    expect(() => parseNumber('0', '--estimate', NUMBERS.estimate)).toThrow(/--estimate '0'/);
  });
});

describe('only the command that runs is declared in full', () => {
  it("an option's value that names a command, a parent's option before its subcommand, and `--flag=value` all run the command commander picks, with its options parsed", async () => {
    const board = await makeBoardIn();
    const added = await board.json('--idempotency-key', 'status', 'add', 'list', '--priority', '0');
    expect(added.task).toMatchObject({ title: 'list', priority: 0 });
    const byEquals = await board.json('--lock-timeout=5', 'add', 'events', '--priority=1');
    expect(byEquals.task).toMatchObject({ title: 'events', priority: 1 });
    const acked = await board.json('events', '--cursor', 'ack', 'ack', '--to', '1');
    expect(acked).toMatchObject({ ok: true });
    expect((await board.json('events', '--cursor', 'ack')).events.map((e: { seq: number }) => e.seq)).not.toContain(1);
    // A misspelt command or option is refused as before, with commander's suggestion.
    const typo = await board.json('ad', 'x');
    expect([typo._code, typo.error.suggestion]).toEqual([2, 'add']);
    const flag = await board.json('add', 'x', '--priorty', '1');
    expect([flag._code, flag.error.suggestion]).toEqual([2, '--priority']);
  });
});

describe('numeric flags through the CLI', () => {
  it('a bad number is INVALID_INPUT (exit 2) naming the flag, before anything runs', async () => {
    const cwd = tempDir();
    for (const args of [['next', '--watch', 'soon'], ['events', '--limit', '-3'], ['wait', 'x', '--timeout', 'forever'], ['add', 'x', '--estimate', '0'], ['list', '--lock-timeout', 'x']]) {
      const r = await batonIn([...args, '--json'], { cwd });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.json.error.code).toBe('INVALID_INPUT');
      expect(r.json.error.message).toMatch(new RegExp(`Invalid ${args[args.length - 2]} `));
    }
  });
});
