// Imported with `await import('./colour.js')`, and only on a TTY: chalk loads when colour is due.
import chalk from 'chalk';

/**
 * Colours human text on a TTY: section headings (a line ending in ':') bold, ✓ green, ✗ red,
 * `next:` hints dim. Commands return plain text; colour is the terminal's business only.
 */
export function decorate(text: string): string {
  chalk.level = chalk.level || 1;
  return text
    .split('\n')
    .map((l) => {
      if (/^\S.*:$/.test(l)) return chalk.bold(l);
      if (l.startsWith('✓')) return chalk.green(l);
      if (l.startsWith('✗')) return chalk.red(l);
      if (l.startsWith('!')) return chalk.yellow(l);
      if (/^\s+(next|fix):/.test(l)) return chalk.dim(l);
      return l;
    })
    .join('\n');
}
