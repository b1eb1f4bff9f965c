/** A client's first exchange with `baton mcp`: initialize at `version`, then each of `then` as the one before is answered. */
export function firstExchange(o: {
  bin: string;
  args?: string[];
  cwd: string;
  env: Record<string, string | undefined>;
  version: string;
  client?: string;
  then?: { method: string; params?: Record<string, unknown> }[];
}): Promise<{ messages: Record<number, { result?: any; error?: any }>; ms: Record<number, number> }>;
