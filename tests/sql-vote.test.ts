// sql-vote on recorded candidates: the majority result wins, a tie goes as
// documented (summed log-probability, then order), the other strategies, the
// report's counts, the line-up check, and hostile candidates with the same
// guarantees as sql-eval's (tests/sql-eval-safety.test.ts).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import step from '../steps/sql-vote/index.js';
import type { StepRunContext } from '../src/steps/types.js';
import { makeDb, repoRoot } from './helpers/sql-eval.js';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

type Cand = [sql: string, logprob: number];

function writeInputs(dir: string, db: string, items: Cand[][]): { candidates: string; dev: string } {
  const candidates = path.join(dir, 'candidates.jsonl');
  const dev = path.join(dir, 'dev.json');
  writeFileSync(candidates, items.map((c, i) => JSON.stringify({ index: i, db_id: db, question: `q${i}`, candidates: c.map(([sql, logprob]) => ({ sql, logprob, round: 0 })) }) + '\n').join(''));
  // The gold `output` is there, as in spider-sft's dev records: the vote must not use it.
  writeFileSync(dev, JSON.stringify(items.map((_, i) => ({ db_id: db, instruction: 'schema', input: `q${i}`, output: 'SELECT 42' }))));
  return { candidates, dev };
}

async function runVote(w: Record<string, unknown>) {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'sql-vote-'));
  const outputs = step.outputs as Record<string, string>;
  const ctx: StepRunContext = {
    stepId: 'vote',
    workDir,
    with: { strategy: 'majority', timeout_s: 30, max_rows: 100000, ...w },
    outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, path.join(workDir, v)])),
    signal: new AbortController().signal,
    gpus: [],
    env: {},
    log: () => {},
    progress: () => {},
    metric: () => {},
    artifact: () => {},
    root: repoRoot,
  } as unknown as StepRunContext;
  await step.run(ctx);
  return {
    preds: readFileSync(ctx.outputs.predictions!, 'utf8').split('\n').slice(0, -1),
    votes: readFileSync(ctx.outputs.votes!, 'utf8').trim().split('\n').map((l) => JSON.parse(l)),
    metrics: JSON.parse(readFileSync(ctx.outputs.metrics!, 'utf8')),
    report: readFileSync(ctx.outputs.report!, 'utf8'),
  };
}

// people: (1 Ann 30), (2 bob 25), (3 Ann 40)
const ITEMS: Cand[][] = [
  // Majority: three texts give {Ann, Ann, bob} as a bag (one with columns... and order differing), one differs, one fails.
  [
    ['SELECT name FROM people WHERE age > 35', -1],
    ['SELECT name FROM people', -5],
    ['SELECT name FROM people ORDER BY id DESC', -6],
    ['SELECT nme FROM people', -0.5],
    ['select name from people', -7],
  ],
  // A tie 2-2: the group with the higher summed log-probability wins, whatever comes first.
  [
    ['SELECT count(*) FROM people', -1],
    ['SELECT count(id) FROM people', -4],
    ['SELECT max(age) FROM people', -2],
    ['SELECT max(age) FROM people WHERE age > 0', -2],
  ],
  // A tie on size and log-probability: the group seen first.
  [
    ['SELECT min(age) FROM people', -3],
    ['SELECT max(id) FROM people', -3],
  ],
  // All fail: the first candidate stays.
  [
    ['SELECT * FROM nowhere', -1],
    ['DROP TABLE people', -2],
  ],
];

describe('sql-vote', () => {
  it('picks the majority result, breaks ties by summed log-probability then order, and reports what changed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-vote-majority-'));
    const { dbDir } = makeDb(dir, 'v');
    const r = await runVote({ ...writeInputs(dir, 'v', ITEMS), db_dir: dbDir });
    expect(r.preds).toEqual(['SELECT name FROM people', 'SELECT max(age) FROM people', 'SELECT min(age) FROM people', 'SELECT * FROM nowhere']);
    expect(r.votes.map((v) => [v.chosen, v.groups, v.errors.filter(Boolean).length, v.agreement, v.changed])).toEqual([
      [1, [3, 1], 1, 0.6, true],
      [2, [2, 2], 0, 0.5, true],
      [0, [1, 1], 0, 0.5, false],
      [0, [], 2, 0, false],
    ]);
    expect(r.votes[3].chosen_error).toMatch(/no such table/);
    expect(r.metrics).toMatchObject({ items: 4, candidates: 13, executed: 13, error_rate_first: 0.25, error_rate_chosen: 0.25, changed: 2, changed_rate: 0.5 });
    expect(r.report).toContain('| items whose result the vote changed from the first candidate\'s | 2 (50.0%) |');
  });

  it('first-valid takes the first candidate that runs; logprob the most probable that runs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-vote-strategies-'));
    const { dbDir } = makeDb(dir, 'v');
    const inputs = writeInputs(dir, 'v', ITEMS);
    const first = await runVote({ ...inputs, db_dir: dbDir, strategy: 'first-valid' });
    expect(first.votes.map((v) => v.chosen)).toEqual([0, 0, 0, 0]);
    const lp = await runVote({ ...inputs, db_dir: dbDir, strategy: 'logprob' });
    // Item 0: the most probable candidate (-0.5) fails, so the next (-1) is chosen.
    expect(lp.votes.map((v) => v.chosen)).toEqual([0, 0, 0, 0]);
    const best = await runVote({ ...writeInputs(mkdtempSync(path.join(dir, 'b-')), 'v', [[['SELECT 1', -3], ['SELECT 2', -1], ['SELEC 3', 0]]]), db_dir: dbDir, strategy: 'logprob' });
    expect(best.preds).toEqual(['SELECT 2']);
  });

  it('runs each distinct text once per item', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-vote-distinct-'));
    const { dbDir } = makeDb(dir, 'v');
    const same: Cand[] = Array.from({ length: 8 }, (_, k) => [k % 2 ? 'SELECT name FROM people' : 'SELECT age FROM people', -k]);
    const r = await runVote({ ...writeInputs(dir, 'v', [same]), db_dir: dbDir });
    expect(r.metrics).toMatchObject({ candidates: 8, executed: 2 });
    expect(r.votes[0].groups).toEqual([4, 4]);
  });

  it('refuses candidates that do not line up with the dev records, naming both files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-vote-lineup-'));
    const { dbDir } = makeDb(dir, 'v');
    const { candidates, dev } = writeInputs(dir, 'v', ITEMS);
    writeFileSync(dev, JSON.stringify(ITEMS.map((_, i) => ({ db_id: i === 2 ? 'other' : 'v', input: `q${i}` }))));
    await expect(runVote({ candidates, dev, db_dir: dbDir })).rejects.toThrow(`${candidates}:3: item 2 is about database "v" but ${dev} record 2 is about "other"; the files do not line up`);
    // Shifted by one record (another split or a dropped item).
    writeFileSync(dev, JSON.stringify(ITEMS.map((_, i) => ({ db_id: 'v', input: `q${i + 1}` }))));
    await expect(runVote({ candidates, dev, db_dir: dbDir })).rejects.toThrow(`${candidates}:1: item 0 asks "q0" but ${dev} record 0 asks "q1"; the files do not line up`);
    writeFileSync(dev, JSON.stringify(ITEMS.slice(1).map((_, i) => ({ db_id: 'v', input: `q${i}` }))));
    await expect(runVote({ candidates, dev, db_dir: dbDir })).rejects.toThrow(`${candidates} has 4 items but ${dev} has 3 records; they must align item by item`);
  });

  it('refuses writes, stops runaway queries, survives monstrous texts and leaves the database byte-identical', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sql-vote-hostile-'));
    const { dbDir, file } = makeDb(dir, 'hostile', 10_000);
    const before = sha(file);
    const copy = path.join(dir, 'stolen.sqlite');
    const honest = 'SELECT count(*) FROM people';
    const hostile: Array<[string, RegExp]> = [
      ['DROP TABLE people', /refused/],
      ['DELETE FROM people', /refused/],
      ["UPDATE people SET name = 'x'", /refused/],
      [`ATTACH DATABASE '${path.join(dir, 'other.db')}' AS other`, /refused/],
      [`VACUUM INTO '${copy}'`, /refused/],
      ['PRAGMA writable_schema = 1', /refused/],
      ['WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c', /exceeds 100000 rows/],
      ['SELECT count(*) FROM big AS a, big AS b, big AS c', /timeout/],
    ];
    // Each hostile text sits between two honest ones in its item, so a killed worker must not cost their vote.
    const items: Cand[][] = hostile.map(([sql]) => [[honest, -1], [sql, 0], [honest, -2]]);
    const r = await runVote({ ...writeInputs(dir, 'hostile', items), db_dir: dbDir, timeout_s: 1 });
    hostile.forEach(([sql, why], i) => {
      const v = r.votes[i];
      expect({ sql: sql.slice(0, 60), chosen: v.chosen, groups: v.groups }).toEqual({ sql: sql.slice(0, 60), chosen: 0, groups: [2] });
      expect(v.errors[1], sql).toMatch(why);
    });
    // Monstrous texts, under the default time limit as in sql-eval's test (a 10 MB literal takes SQLite a while to
    // read on a loaded machine): each runs or fails alone, and the honest candidates beside it still vote.
    const monsters = [
      `SELECT name FROM people WHERE note = '${'x'.repeat(10 * 2 ** 20)}'`,
      `SELECT ${'a'.repeat(2 ** 20)} FROM people`,
      `SELECT ${'('.repeat(10_000)}name${')'.repeat(10_000)} FROM people`,
    ];
    const m = await runVote({ ...writeInputs(mkdtempSync(path.join(dir, 'm-')), 'hostile', monsters.map((sql) => [[honest, -1], [sql, 0], [honest, -2]])), db_dir: dbDir });
    expect(m.votes.map((v) => [v.chosen, v.errors[1] === null])).toEqual([[0, true], [0, false], [0, false]]);
    expect(m.votes[0].groups).toEqual([2, 1]);
    for (const v of m.votes) expect((v.errors[1] ?? '').length).toBeLessThan(600);
    expect(sha(file)).toBe(before);
    expect(existsSync(copy)).toBe(false);
    expect(readdirSync(path.dirname(file))).toEqual(['hostile.sqlite']);
  });
});
