/** One argument for a POSIX shell, single-quoted (`eval "$(baton join --export)"`, git's driver line). */
export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
