// The MCP server under load, driven by the SDK's own client over stdio (part of `npm run bench`):
// the size of tools/list per tier (characters, and tokens as characters / 4), and warm call
// latency (client side, the JSON-RPC round trip included) on seeded boards: `next` on an
// unchanged board, `next` just after another process changed it, and `claim` + `release`.
import { spawn, spawnSync } from 'node:child_process';
import { firstExchange } from './mcp-exchange.mjs';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))];
};

async function connect(bin, dir, env, tier) {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [bin, 'mcp', '--tools', tier], cwd: dir, env, stderr: 'ignore' }));
  return client;
}

/** tools/list of each tier: how many tools, and what the list costs a client's context. */
export async function toolListSizes(bin, dir, env) {
  const out = {};
  for (const tier of ['core', 'orchestrator', 'all']) {
    const client = await connect(bin, dir, env, tier);
    const { tools } = await client.listTools();
    const chars = JSON.stringify(tools).length;
    out[tier] = { tools: tools.length, chars, tokens: Math.round(chars / 4) };
    await client.close();
  }
  return out;
}

/** Warm latencies on a board (its directory holds project-plan/), `calls` of each. */
export async function callLatency(bin, dir, env, calls) {
  const client = await connect(bin, dir, env, 'core');
  const timed = async (name, args) => {
    const t = performance.now();
    const r = await client.callTool({ name, arguments: args });
    const ms = performance.now() - t;
    if (r.isError) throw new Error(`${name}: ${JSON.stringify(r.structuredContent)}`);
    return { ms, data: r.structuredContent };
  };
  await timed('next', {}); // joins, and parses the board once
  await timed('next', {});
  const next = [];
  for (let i = 0; i < calls; i++) next.push((await timed('next', {})).ms);
  // The same read right after another process committed: the server parses state.json again.
  const changed = [];
  for (let i = 0; i < Math.max(5, Math.floor(calls / 20)); i++) {
    const r = spawnSync(process.execPath, [bin, 'add', `bench mcp ${i}`, '--json'], { cwd: dir, env, stdio: 'ignore' });
    if (r.status !== 0) throw new Error('add failed');
    changed.push((await timed('next', {})).ms);
  }
  const claimRelease = [];
  for (let i = 0; i < Math.max(10, Math.floor(calls / 4)); i++) {
    const c = await timed('claim', {});
    const r = await timed('release', { id: c.data.task.id });
    claimRelease.push(c.ms + r.ms);
  }
  await client.close();
  const f = (xs) => ({ p50_ms: pct(xs, 0.5), p99_ms: pct(xs, 0.99) });
  return { next: f(next), next_after_change: f(changed), claim_release: f(claimRelease) };
}

/**
 * Spawn to `initialize` answered, and spawn to `tools/list` answered, of `baton mcp` started as a
 * client starts it (one process each run, JSON-RPC by hand, the client's usual first exchange),
 * each beside a bare `node -e 0` in the same run: the ratios are what decide whether a client that
 * sends its first model request at once lists baton's tools in it.
 */
export async function startup(bin, dir, env, runs) {
  const once = async () => {
    const { messages, ms } = await firstExchange({ bin, cwd: dir, env, version: '2025-11-25', client: 'bench', then: [{ method: 'tools/list' }] });
    if (!messages[2]?.result) throw new Error('baton mcp did not answer');
    return { initialize: ms[1], tools_list: ms[2] };
  };
  const bare = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      spawn(process.execPath, ['-e', '0'], { cwd: dir, env, stdio: 'ignore' }).on('close', () => resolve(performance.now() - t0));
    });
  const node = [];
  const init = [];
  const list = [];
  for (let i = 0; i < runs; i++) {
    node.push(await bare());
    const at = await once();
    init.push(at.initialize);
    list.push(at.tools_list);
  }
  const med = (xs) => pct(xs, 0.5);
  return { node_ms: med(node), initialize_ms: med(init), tools_list_ms: med(list), initialize_ratio: med(init) / med(node), tools_list_ratio: med(list) / med(node) };
}
