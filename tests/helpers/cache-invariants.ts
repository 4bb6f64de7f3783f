// The fault suite's invariants (tests/cache-faults*.test.ts), checked after each case:
//   1. every file the cache would serve hashes to the digest it recorded (objects included);
//   2. no file outside the cache changed (a sentinel tree, digested before and after);
//   3. no stack trace on stderr.

import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createXXHash128 } from 'hash-wasm';
import { expect } from 'vitest';
import type { Sandbox } from './cli.js';

/** A folder outside the cache with files, a subfolder and modes; its digest covers content, mode and link count. */
export function sentinel(s: Sandbox): { dir: string; digest(): string } {
  const dir = join(s.dir, 'outside');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'a.txt'), 'precious a\n');
  writeFileSync(join(dir, 'sub', 'b.bin'), Buffer.from([1, 2, 3, 4]));
  chmodSync(join(dir, 'a.txt'), 0o644);
  const digest = () => {
    const h = createHash('sha256');
    const walk = (d: string) => {
      for (const name of readdirSync(d).sort()) {
        const p = join(d, name);
        const st = lstatSync(p);
        h.update(`${p}\t${st.mode}\t${st.nlink}\n`);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) h.update(readFileSync(p));
      }
    };
    walk(dir);
    return h.digest('hex');
  };
  return { dir, digest };
}

/** Promise 1: every indexed entry's files hash to their recorded digests (symlinks: their recorded target). */
export async function assertServedIntact(cache: string): Promise<number> {
  const file = join(cache, 'flow.db');
  if (!existsSync(file)) return 0;
  const db = new Database(file, { readonly: true });
  const hasher = await createXXHash128();
  let checked = 0;
  try {
    const rows = db.prepare('SELECT key, files FROM entries').all() as Array<{ key: string; files: string | null }>;
    for (const row of rows) {
      for (const f of JSON.parse(row.files ?? '[]') as Array<{ path: string; digest?: string; link?: string }>) {
        const p = join(cache, 'steps', row.key, f.path);
        if (f.link !== undefined) expect(readlinkSync(p), p).toBe(f.link);
        else {
          hasher.init();
          hasher.update(readFileSync(p));
          expect(hasher.digest('hex'), `${p} served with other bytes than recorded`).toBe(f.digest);
        }
        checked++;
      }
    }
  } finally {
    db.close();
  }
  return checked;
}

/** Every object under objects/ holds the bytes its name says (the name is its content digest, `.x` for executable). */
export async function assertObjectsIntact(cache: string): Promise<number> {
  const root = join(cache, 'objects');
  const hasher = await createXXHash128();
  let n = 0;
  for (const shard of existsSync(root) ? readdirSync(root) : []) {
    for (const name of readdirSync(join(root, shard))) {
      const p = join(root, shard, name);
      hasher.init();
      hasher.update(readFileSync(p));
      expect(hasher.digest('hex'), `${p} holds other bytes than its name`).toBe(name.replace(/\.x$/, ''));
      n++;
    }
  }
  return n;
}

/** A JS stack frame line: what no flow command may print. */
export function assertNoStack(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at .*(\.js|\.ts|node:)/m);
}
