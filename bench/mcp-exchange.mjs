// A client's first exchange with `baton mcp`, driven by hand (one JSON-RPC message a line over
// stdio, as the stdio binding frames them): what the bench times, what build-mcp.cjs records, and
// what the test of the server's start compares.
import { spawn } from 'node:child_process';

/**
 * Starts `baton mcp ARGS` and sends `initialize` at `version`; once it is answered,
 * `notifications/initialized`, then each request of `then` in turn, each when the one before is
 * answered (ids 2, 3, …); stdin is closed after the last answer. Resolves with every answer by id
 * (the whole message: `result` or `error`) and the milliseconds from the spawn to each.
 */
export function firstExchange({ bin, args = [], cwd, env, version, client = 'baton', then = [] }) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, 'mcp', ...args], { cwd, env, stdio: ['pipe', 'pipe', 'ignore'] });
    const send = (m) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...m })}\n`);
    const requests = [{ method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: client, version: '1.0.0' } } }, ...then].map((m, i) => ({ id: i + 1, ...m }));
    let next = 0;
    const sendNext = () => {
      const r = requests[next++];
      if (r) send(r);
      else child.stdin.end();
    };
    const messages = {};
    const ms = {};
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        messages[m.id] = m;
        ms[m.id] = performance.now() - t0;
        if (m.id === 1) send({ method: 'notifications/initialized' });
        sendNext();
      }
    });
    child.on('error', reject);
    child.on('close', () => resolve({ messages, ms }));
    sendNext();
  });
}
