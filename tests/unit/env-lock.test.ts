// Fault suite, issue 27 case 8: the Python env lock (src/proc/lock.ts) with a dead owner's lock
// file, raced by real processes: never two holders at once.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const LOCK = join(ROOT, 'dist', 'src', 'proc', 'lock.js');

/** A process that takes the lock, notes its entry and exit in the ledger, and releases it. */
const holder = (lock: string, ledger: string) => `
import { appendFileSync } from 'node:fs';
const { acquireLock } = await import(${JSON.stringify(LOCK)});
const l = await acquireLock(${JSON.stringify(lock)}, new AbortController().signal, () => {});
appendFileSync(${JSON.stringify(ledger)}, 'in\\n');
await new Promise((r) => setTimeout(r, 30));
appendFileSync(${JSON.stringify(ledger)}, 'out\\n');
await l.release();
`;

describe('8. the env lock with a dead owner', () => {
  it('4 processes racing for a lock whose owner is dead x 10 trials: one holder at a time', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flow-lock-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const dead = Number(execFileSync('bash', ['-c', 'sh -c "echo \\$\\$" & wait'], { encoding: 'utf8' }).trim());
    for (let t = 0; t < 10; t++) {
      const lock = join(dir, `k${t}.lock`);
      const ledger = join(dir, `ledger${t}`);
      writeFileSync(lock, String(dead));
      writeFileSync(ledger, '');
      const rs = await Promise.all([0, 1, 2, 3].map(() => execa(process.execPath, ['--input-type=module', '-e', holder(lock, ledger)], { reject: false })));
      for (const r of rs) expect(r.exitCode, String(r.stderr)).toBe(0);
      // Entries and exits alternate: no second "in" before the first "out".
      expect(readFileSync(ledger, 'utf8')).toBe('in\nout\n'.repeat(4));
    }
  });
});
