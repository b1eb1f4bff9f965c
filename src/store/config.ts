import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HeldLock } from './lock.js';
import { FILES, writeFileAtomic } from './store.js';
import type { Tx } from '../rules/change.js';
import type { Config, Profile, State } from '../rules/types.js';

/** config.yaml's text with its top-level `profile:` line set (added when there is none). */
function withProfile(text: string, profile: Profile): string {
  return /^profile: .*$/m.test(text) ? text.replace(/^profile: .*$/m, `profile: ${profile}`) : `${text.trimEnd()}\nprofile: ${profile}\n`;
}

/**
 * Sets the board's profile in config.yaml (preflight --profile), the one line of it baton
 * edits, as one transaction: `apply` reads the file under the board lock and records a
 * `config.changed` event when the line changes; `afterCommit`, still under the lock, writes
 * the file whole (temp file in the lock's fence, fsync, rename); the Markdown regenerated after
 * the transaction shows the new profile. Nothing is written without its event.
 */
export function profileChange(dir: string, profile: Profile) {
  const file = join(dir, FILES.config);
  let next: string | null = null;
  return {
    apply(tx: Tx): boolean {
      const text = readFileSync(file, 'utf8');
      const changed = withProfile(text, profile);
      if (changed === text) return false;
      next = changed;
      tx.emit({ type: 'config.changed', data: { file: FILES.config, changes: { profile: { from: tx.config.profile, to: profile } } } });
      return true;
    },
    afterCommit(_state: State, _config: Config, lock: HeldLock): void {
      if (next === null) return;
      // The Markdown follows once the lock is free: it is rendered with config.yaml as it is then.
      writeFileAtomic(file, next, true, lock.fence);
    },
  };
}
