import { join } from 'node:path';
import { checkClient, HOST_CONFIG_FILE, hostConfig, type McpConfigPlan, planMcpConfig, writeMcpConfig } from '../clients/mcpconfig.js';
import { writeFileAtomic } from '../store/store.js';
import { boardDir, type Ctx } from './context.js';

export interface McpConfigResult {
  revision: number;
  client: string;
  /** The client's config file, from the project root (the board's parent directory). */
  file: string;
  path: string;
  /** Whether the file was (or, with --print, would be) changed. */
  changed: boolean;
  written: boolean;
  content: string;
  host_config: string;
}

/** Writes (or with --print, only shows) the client's MCP config for this board's project. */
export async function config(o: { client?: string; print?: boolean }, ctx: Ctx): Promise<McpConfigResult> {
  const client = checkClient(o.client);
  const dir = boardDir(ctx);
  const plan: McpConfigPlan = planMcpConfig(dir, client);
  if (!o.print) {
    writeMcpConfig(plan);
    writeFileAtomic(join(dir, HOST_CONFIG_FILE), hostConfig(dir));
  }
  return { revision: -1, client, file: plan.file, path: join(plan.root, plan.file), changed: plan.changed, written: !o.print && plan.changed, content: plan.content, host_config: join(dir, HOST_CONFIG_FILE) };
}

export function renderConfig(r: McpConfigResult, print: boolean): string {
  if (print) return r.content.trimEnd();
  return r.changed ? `Wrote ${r.path}: the baton server (npx baton mcp) for ${r.client}.` : `${r.path} already has the baton server: nothing changed.`;
}
