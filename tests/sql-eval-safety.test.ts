// Hostile predictions: none may change a database file, each counts as wrong
// with its reason, and runaway queries are stopped by the time or size limit.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDb, runSqlEval, writePairs } from './sql-eval-helpers.js';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('sql-eval safety', () => {
  it('refuses writes, stops runaway queries and leaves every database byte-identical', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-hostile-'));
    const { dbDir, tables, file } = makeDb(dir, 'hostile', 10_000);
    const before = sha(file);
    const copy = path.join(dir, 'stolen.sqlite');
    const gold = 'SELECT count(*) FROM people';
    const hostile: Array<[string, RegExp]> = [
      ['DROP TABLE people', /refused/],
      ['DELETE FROM people', /refused/],
      ["UPDATE people SET name = 'x'", /refused/],
      ["INSERT INTO people VALUES (9, 'e', 1, 1.0, NULL)", /refused/],
      [`ATTACH DATABASE '${path.join(dir, 'other.db')}' AS other`, /refused/],
      [`VACUUM INTO '${copy}'`, /refused/],
      ['PRAGMA writable_schema = 1', /refused/],
      ["SELECT load_extension('/nonexistent/ext')", /not authorized/],
      ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c', /timeout/],
      ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c', /exceeds 100000 rows/],
      ['SELECT a.n, b.n FROM big AS a, big AS b', /exceeds 100000 rows/],
      ['SELECT count(*) FROM big AS a, big AS b, big AS c', /timeout/],
    ];
    const files = writePairs(dir, 'hostile', [...hostile.map(([p]) => [gold, p] as [string, string]), [gold, gold]]);
    const r = await runSqlEval({ ...files, db_dir: dbDir, tables, timeout_s: 1 });
    hostile.forEach(([sql, why], i) => {
      const item = r.results[i]!;
      expect({ sql, ex: item.ex }).toEqual({ sql, ex: 0 });
      expect(item.error, sql).toMatch(why);
    });
    // The pool recovered from the killed workers: the last, honest item still runs.
    expect(r.results[hostile.length]!.ex).toBe(1);
    expect(sha(file)).toBe(before);
    expect(existsSync(copy)).toBe(false);
    expect(readdirSync(path.dirname(file))).toEqual(['hostile.sqlite']);
  });

  it('stops promptly when aborted', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-abort-'));
    const { dbDir, tables } = makeDb(dir, 'slow', 10_000);
    const files = writePairs(dir, 'slow', [['SELECT count(*) FROM people', 'SELECT count(*) FROM big AS a, big AS b, big AS c']]);
    const ac = new AbortController();
    const run = runSqlEval({ ...files, db_dir: dbDir, tables, timeout_s: 600 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 500);
    await expect(run).rejects.toThrow(/aborted/);
  });
});
