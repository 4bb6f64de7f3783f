// Hostile predictions: none may change a database file, each counts as wrong
// with its reason, and runaway queries are stopped by the time or size limit.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeDb, runSqlEval, writePairs } from './helpers/sql-eval.js';

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

describe('sql-eval on monstrous predictions', () => {
  it('scores a 10 MB literal, a 1 MB identifier and 10,000 nested parentheses wrong and leaves the other verdicts unchanged', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-monsters-'));
    const { dbDir, tables } = makeDb(dir, 'monsters');
    const normal: Array<[string, string]> = [
      ['SELECT count(*) FROM people', 'SELECT count(*) FROM people'],
      ['SELECT name FROM people WHERE age > 26', 'SELECT name FROM people WHERE age > 20'],
      ['SELECT name, age FROM people ORDER BY age', 'SELECT name, age FROM people ORDER BY age DESC'],
      ['SELECT DISTINCT name FROM people', 'SELECT name FROM people GROUP BY name'],
      ['SELECT name FROM people WHERE age = (SELECT max(age) FROM people)', 'SELECT name FROM people ORDER BY age DESC LIMIT 1'],
      ['SELECT avg(score) FROM people', 'SELECT avg(score) FROM people WHERE'],
    ];
    const gold = 'SELECT name FROM people';
    const monsters = [
      `SELECT name FROM people WHERE note = '${'x'.repeat(10 * 2 ** 20)}'`,
      `SELECT ${'a'.repeat(2 ** 20)} FROM people`,
      `SELECT ${'('.repeat(10_000)}name${')'.repeat(10_000)} FROM people`,
    ];
    // Each monster stands between normal items, so an item that crashed the run would take its neighbours with it.
    const mixed: Array<[string, string]> = [];
    const monsterAt: number[] = [];
    normal.forEach((pair, i) => {
      mixed.push(pair);
      if (i < monsters.length) {
        monsterAt.push(mixed.length);
        mixed.push([gold, monsters[i]!]);
      }
    });
    const alone = await runSqlEval({ ...writePairs(mkdtempSync(path.join(dir, 'alone-')), 'monsters', normal), db_dir: dbDir, tables });
    const r = await runSqlEval({ ...writePairs(mkdtempSync(path.join(dir, 'mixed-')), 'monsters', mixed), db_dir: dbDir, tables });
    const verdict = (x: Record<string, any>) => ({ hardness: x.hardness, ex: x.ex, em: x.em, error: x.error });
    const normalAfter = r.results.filter((_, i) => !monsterAt.includes(i)).map(verdict);
    expect(normalAfter).toEqual(alone.results.map(verdict));
    // The normal items are not all alike, so equality above says something.
    expect(new Set(normalAfter.map((v) => `${v.ex}${v.em}`)).size).toBeGreaterThan(2);
    for (const i of monsterAt) {
      const m = r.results[i]!;
      expect({ i, ex: m.ex, em: m.em }).toEqual({ i, ex: 0, em: 0 });
    }
    expect(r.metrics.count.all).toBe(mixed.length);
  });
});

describe('sql-eval when a worker must be killed', () => {
  it('scores an item whose parse or query outlives the limit wrong, keeps what it can, and finishes the rest', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-eval-killed-'));
    const { dbDir, tables } = makeDb(dir, 'slow', 10_000);
    const slow = 'SELECT count(*) FROM big AS T1 JOIN big AS T2 JOIN big AS T3';
    const pairs: Array<[string, string]> = [
      ['SELECT count(*) FROM people', 'SELECT count(*) FROM people'],
      // NLTK's end-of-sentence rule is quadratic in a run of spaces after a dot: the parse hangs.
      ['SELECT name FROM people WHERE age > 26', `SELECT a. ${' '.repeat(100_000)}x FROM people`],
      ['SELECT name FROM people WHERE age > 26', 'SELECT name FROM people WHERE age > 20'],
      // Structurally the gold itself, but no query finishes in time: exact match must survive the kill.
      [slow, slow],
      ['SELECT name, age FROM people ORDER BY age', 'SELECT name, age FROM people ORDER BY age'],
    ];
    const r = await runSqlEval({ ...writePairs(dir, 'slow', pairs), db_dir: dbDir, tables, timeout_s: 1 });
    const v = r.results.map((x) => ({ hardness: x.hardness, ex: x.ex, em: x.em, timeout: /timeout/.test(x.error ?? '') }));
    expect(v).toEqual([
      { hardness: 'easy', ex: 1, em: 1, timeout: false },
      { hardness: 'easy', ex: 0, em: 0, timeout: true },
      { hardness: 'easy', ex: 0, em: 1, timeout: false },
      { hardness: 'medium', ex: 0, em: 1, timeout: true },
      { hardness: 'medium', ex: 1, em: 1, timeout: false },
    ]);
  });
});
