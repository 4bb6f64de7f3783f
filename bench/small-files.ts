// bench/small-files.ts — committing many small files.
//
// A step output folder of N files of 100 bytes (1,000 per sub-folder) is committed by the
// store (hash, move into objects/, link, record), and the same folder is copied with `cp -r` and
// through `tar c | tar x` in the same run, as the floor a user compares with. Then a lookup
// of the committed entry (what every later run pays: a stat per file).
//
// Run with `npm run bench` (or node dist/bench/small-files.js [N ...] after a build);
// N defaults to 20,000 and 100,000.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { integrityStats } from '../src/cache/store.js';
import { openWorkspace } from '../src/scheduler/workspace.js';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const PER_DIR = 1000;
const fmt = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function makeTree(dir: string, n: number): void {
  const body = 'x'.repeat(99);
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `d${String(Math.floor(i / PER_DIR)).padStart(4, '0')}`);
    if (i % PER_DIR === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `f${i}.txt`), `${body.slice(String(i).length)}${i}\n`);
  }
}

function timed<T>(f: () => T): [T, number] {
  const t = performance.now();
  const r = f();
  return [r, performance.now() - t];
}

async function bench(n: number): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'flow-bench-small-'));
  try {
    const source = join(root, 'source');
    makeTree(source, n);
    const [, cpMs] = timed(() => execFileSync('cp', ['-r', source, join(root, 'cp-copy')]));
    mkdirSync(join(root, 'tar-copy'));
    const [, tarMs] = timed(() => execFileSync('bash', ['-c', `tar -C ${JSON.stringify(source)} -cf - . | tar -C ${JSON.stringify(join(root, 'tar-copy'))} -xf -`]));

    const ws = openWorkspace(join(root, 'cache'));
    try {
      const work = ws.store.makeExecDir('bench-exec');
      // The step's output, written as a step writes it (not timed): a fresh copy in the work dir.
      execFileSync('cp', ['-r', source, join(work, 'out')]);
      let t = performance.now();
      const entry = await ws.store.commit('bench-key', 'bench', 'bench-exec', work, { out: 'out' }, 0);
      await ws.store.settle();
      const commitMs = performance.now() - t;
      const rehashed = integrityStats.rehashed;
      t = performance.now();
      const found = await ws.store.lookup('bench-key');
      const lookupMs = performance.now() - t;
      if (found?.digest !== entry.digest || entry.files.length !== n) throw new Error('bench: the committed entry is not the one looked up');
      const per = (ms: number) => `${((ms * 1000) / n).toFixed(0)} µs/file`;
      console.log(
        `small files ${n.toLocaleString('en')}: flow commit ${fmt(commitMs)} (${per(commitMs)}) | cp -r ${fmt(cpMs)} | tar c|x ${fmt(tarMs)} | ` +
          `commit/cp ${(commitMs / cpMs).toFixed(1)}x | lookup ${fmt(lookupMs)} (${integrityStats.rehashed - rehashed} files re-hashed)`,
      );
    } finally {
      ws.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

for (const n of sizes.length ? sizes : [20_000, 100_000]) await bench(n);
