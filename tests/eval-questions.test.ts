// The question of each evaluated item, from spider-sft's dev records through
// sql-eval's results.jsonl to the report's wrong-predictions table (real steps
// through the CLI on the shipped Spider subset), and a questions file that does
// not line up with the gold refused rather than shown beside the wrong items.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runIdOf, sandbox } from './helpers/cli.js';

const MINI = join(ROOT, 'data', 'spider-mini');
const dev = JSON.parse(readFileSync(join(MINI, 'dev.json'), 'utf8')) as Array<{ question: string; db_id: string }>;

// Five dev items; the "model" gets the first two right and answers `SELECT 1` to the rest.
const recipe = (questions: string) => `name: questions
steps:
  data:
    uses: spider-sft
    with: { spider: ${MINI}, limit_dev: 5 }
  predict:
    run: "cut -f1 \${steps.data.outputs.gold} | sed -e '3,$ s/.*/SELECT 1/' > pred.sql"
    outputs: { predictions: pred.sql }
  eval:
    uses: sql-eval
    with:
      predictions: \${steps.predict.outputs.predictions}
      gold: \${steps.data.outputs.gold}
      questions: ${questions}
      db_dir: ${MINI}/database
      tables: ${MINI}/tables.json
      workers: 1
`;

describe('questions', () => {
  it('sql-eval records each item\'s question and the report shows it beside each wrong prediction', async () => {
    const s = sandbox();
    const r = await s.flow(['run', s.write('r.yml', recipe('${steps.data.outputs.dev}')), '--ui', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const done = r.events.find((e) => e.type === 'step-done' && e.step === 'eval') as { outputs: Record<string, string> };
    const results = readFileSync(done.outputs.results!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { question: string; ex: number });
    expect(results.map((it) => it.question)).toEqual(dev.slice(0, 5).map((d) => d.question));
    expect(results.map((it) => it.ex)).toEqual([1, 1, 0, 0, 0]);

    const out = join(s.dir, 'report');
    const rep = await s.flow(['report', runIdOf(r.events), '--out', out]);
    expect(rep.code, rep.stderr).toBe(0);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    const section = md.slice(md.indexOf('## Wrong predictions: eval'));
    expect(section).toMatch(/^\| hardness \| question \| gold \| predicted \| error \|$/m);
    // Each wrong item's row carries its own question; a right one appears nowhere.
    for (const [i, d] of dev.slice(0, 5).entries()) {
      const row = section.split('\n').find((l) => l.includes(`| ${d.question} |`));
      if (i < 2) expect(row).toBeUndefined();
      else expect(row).toMatch(/`SELECT 1`/);
    }
  });

  it('a questions file that does not line up with the gold fails the step, naming both files', async () => {
    const s = sandbox();
    // Another count (Spider's whole dev.json against a gold of 5), and another database at item 3.
    const other = dev.slice(0, 5).map((d, i) => (i === 3 ? { ...d, db_id: 'pets_1' } : d));
    writeFileSync(join(s.dir, 'other.json'), JSON.stringify(other));
    for (const [file, message] of [
      [join(MINI, 'dev.json'), /dev\.json has 75 questions but .*dev_gold\.sql has 5 items; they must align item by item$/],
      [join(s.dir, 'other.json'), /other\.json: item 3 is about database "pets_1" but .*dev_gold\.sql:4 is about "concert_singer"; the files do not line up$/],
    ] as const) {
      const r = await s.flow(['run', s.write('r.yml', recipe(file)), '--ui', 'json']);
      expect(r.code).toBe(1);
      const failed = r.events.find((e) => e.type === 'step-failed' && e.step === 'eval') as { error: string } | undefined;
      expect(failed?.error).toMatch(message);
    }
  });
});
