/**
 * Clocks. Every time baton writes (event ts, lease expiry, heartbeats) comes from the clock of the
 * machine that wrote it, so machines sharing a board must roughly agree. Two checks catch one that
 * does not: a writer compares its clock with the board storage's, read from the mtime of the
 * directory it made when it took the lock (its fence: on a network file system the server sets
 * it; acquire.ts), and
 * every writer and `doctor` look for times on the board further in the future than the
 * allowance (`clock_skew_seconds`). Taking back a lease or a session waits that allowance too.
 */

/** Slack for file-system timestamp granularity and the moments since the directory was made. */
const SLACK_MS = 2_000;

/** True when a difference of clocks is more than the allowance (and the slack) can explain. */
const pastAllowance = (ms: number, allowanceMs: number): boolean => ms > allowanceMs + SLACK_MS;

/** "20 min", "45 s", "3 h". */
export function spell(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** What a writer says about its own clock and the board's newest time (empty: all fine). */
export function clockWarnings(off: number | null, lastTs: string | null, allowanceMs: number, nowMs: number): { trusted: boolean; warnings: string[] } {
  const warnings: string[] = [];
  const trusted = off === null || !pastAllowance(Math.abs(off), allowanceMs);
  if (off !== null && !trusted) {
    warnings.push(`this machine's clock is ${spell(off)} ${off > 0 ? 'ahead of' : 'behind'} the board's storage (more than clock_skew_seconds allows): the times this command wrote are off by that much, and it took back no lease or session; fix the clock (NTP)`);
  }
  const last = lastTs ? Date.parse(lastTs) : Number.NaN;
  if (Number.isFinite(last) && pastAllowance(last - nowMs, allowanceMs)) {
    warnings.push(`the board's newest event (${lastTs}) is ${spell(last - nowMs)} ahead of this machine's clock: a machine writing to this board has a clock running ahead (or this one is behind); fix it (NTP)`);
  }
  return { trusted, warnings };
}

/** Times on the board further ahead of now than the allowance: [what, iso] pairs, newest first. */
export function futureTimes(times: Iterable<[string, string | null | undefined]>, allowanceMs: number, nowMs: number): [string, string][] {
  const out: [string, string][] = [];
  for (const [what, iso] of times) {
    if (!iso) continue;
    const t = Date.parse(iso);
    if (Number.isFinite(t) && pastAllowance(t - nowMs, allowanceMs)) out.push([what, iso]);
  }
  return out.sort((a, b) => (a[1] < b[1] ? 1 : -1));
}

export const addSeconds = (iso: string, seconds: number): string => new Date(Date.parse(iso) + seconds * 1000).toISOString();

/** A stored time to the minute, as people read it: `2026-12-07 11:43` (UTC; the caller says so). */
export const toMinute = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
