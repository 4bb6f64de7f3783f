// Input digests over many files (issue 13): a folder or a glob's matches read their
// file_state rows in one query and write new digests in one transaction. What must
// hold whatever the batching: an unchanged file is never re-hashed, a changed one
// always is, and the digests equal those of a fresh database (nothing stale served).

import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { FileStates } from '../../src/cache/file-state.js';
import { hashStats } from '../../src/cache/hash.js';
import { openDb } from '../../src/store/db.js';

function folder(files: number): { root: string; paths: string[] } {
  const root = mkdtempSync(join(tmpdir(), 'flow-file-state-'));
  const paths: string[] = [];
  for (let d = 0; d < 3; d++) {
    mkdirSync(join(root, 'big', `d${d}`), { recursive: true });
    for (let f = 0; f < files / 3; f++) {
      const p = join(root, 'big', `d${d}`, `f${f}.txt`);
      writeFileSync(p, `file ${d}/${f}\n`);
      paths.push(p);
    }
  }
  return { root, paths };
}

it('over thousands of files, a re-digest hashes nothing, a changed file is re-hashed, and digests match a fresh database', async () => {
  const { root, paths } = folder(3000); // more than one slice (1,024) per walk
  const db = openDb(join(root, 'flow.db'));
  const first = new FileStates(db);
  const dirBefore = (await first.digest(join(root, 'big'))).digest;
  const globBefore = (await first.digestMany(paths)).map((d) => d.digest);

  // A new process (a new FileStates, same database): everything comes from file_state rows.
  const again = new FileStates(db);
  hashStats.files = 0;
  expect((await again.digest(join(root, 'big'))).digest).toBe(dirBefore);
  expect((await again.digestMany(paths)).map((d) => d.digest)).toEqual(globBefore);
  expect(hashStats.files).toBe(0);

  // One file changes (same size, new mtime): only it is re-hashed, and the digests move.
  const changed = paths[1500]!;
  writeFileSync(changed, 'FILE 1/0\n');
  utimesSync(changed, new Date(), new Date(Date.now() + 5000));
  const third = new FileStates(db);
  hashStats.files = 0;
  const dirAfter = (await third.digest(join(root, 'big'))).digest;
  const globAfter = (await third.digestMany(paths)).map((d) => d.digest);
  expect(hashStats.files).toBe(1); // the folder walk hashed it; the glob found its new row
  expect(dirAfter).not.toBe(dirBefore);
  expect(globAfter.filter((d, i) => d !== globBefore[i])).toHaveLength(1);

  // A fresh database agrees, file by file.
  const fresh = new FileStates(openDb(join(root, 'fresh.db')));
  expect((await fresh.digest(join(root, 'big'))).digest).toBe(dirAfter);
  expect((await fresh.digestMany(paths)).map((d) => d.digest)).toEqual(globAfter);
});
