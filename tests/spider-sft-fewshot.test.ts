// spider-sft's few-shot retrieval (issue 23.4) on the shipped data/spider-mini:
// which examples a known question gets, that masking removes the schema's words,
// that no example comes from the scored split or the item's own database, that
// the length budget holds, and the plan-time rule for the budget.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bm25Index, maskQuestion, schemaWords, SCHEMA_MASK, VALUE_MASK } from '../steps/spider-sft/few-shot.js';
import type { TableSchema } from '../steps/spider-sft/schema-text.js';
import { ROOT, sandbox } from './helpers/cli.js';

const MINI = join(ROOT, 'data', 'spider-mini');
const read = (f: string) => JSON.parse(readFileSync(join(MINI, f), 'utf8'));
const tables = new Map((read('tables.json') as TableSchema[]).map((t) => [t.db_id, t]));
const trainSrc = read('train_spider.json') as Array<{ db_id: string; question: string; query: string }>;
const devSrc = read('dev.json') as Array<{ db_id: string; question: string; query: string }>;

interface Rec {
  db_id: string;
  instruction: string;
  input: string;
  output: string;
}

async function runData(withYaml: string) {
  const s = sandbox();
  s.write('r.yml', `name: d\nsteps:\n  data:\n    uses: spider-sft\n    with: { spider: ${MINI}${withYaml} }\n`);
  const r = await s.flow(['run', 'r.yml', '--ui', 'json']);
  const done = r.events.find((e) => e.type === 'step-done');
  const outputs = done && done.type === 'step-done' ? done.outputs : {};
  const load = (o: string) => (outputs[o] ? (JSON.parse(readFileSync(outputs[o]!, 'utf8')) as Rec[]) : []);
  return { s, r, outputs, train: load('train'), dev: load('dev'), validation: load('validation') };
}

/** The questions of a prompt's examples, in the default example format. */
const exampleQuestions = (rec: Rec) => [...rec.instruction.matchAll(/^\/\* Answer the following: (.*) \*\/$/gm)].map((m) => m[1]!);

describe('masking', () => {
  it('replaces the words naming the schema by <mask> and values by <unk>', () => {
    const words = schemaWords(tables.get('concert_singer')!);
    expect(maskQuestion('How many singers do we have?', words).join(' ')).toBe(`how many ${SCHEMA_MASK} do we have ?`);
    expect(maskQuestion('Show the name and the release year of the song by the youngest singer.', words).join(' ')).toBe(
      `show the ${SCHEMA_MASK} and the ${SCHEMA_MASK} ${SCHEMA_MASK} of the ${SCHEMA_MASK} by the youngest ${SCHEMA_MASK} .`,
    );
    expect(maskQuestion('Which stadiums have a capacity above 5000 and are in "East Fife"?', words).join(' ')).toBe(
      `which ${SCHEMA_MASK} have a ${SCHEMA_MASK} above ${VALUE_MASK} and are in ${VALUE_MASK} ?`,
    );
    // An apostrophe is not a quoted value.
    expect(maskQuestion("What is the singer's age?", words)).toEqual(['what', 'is', 'the', SCHEMA_MASK, "'", 's', SCHEMA_MASK, '?']);
  });

  it('leaves no word of its schema in any masked question of the subset', () => {
    for (const x of [...trainSrc, ...devSrc]) {
      const words = schemaWords(tables.get(x.db_id)!);
      const left = maskQuestion(x.question, words).filter((w) => words.has(w) || words.has(w.replace(/s$/, '')));
      expect(left, x.question).toEqual([]);
    }
  });
});

describe('bm25Index', () => {
  it('ranks by BM25, ties by pool order, never the query\'s own database', () => {
    const w = (s: string) => s.split(' ');
    const index = bm25Index([
      { db_id: 'a', words: w('what is the <mask> of <mask> ?') },
      { db_id: 'b', words: w('how many <mask> are there ?') },
      { db_id: 'c', words: w('how many <mask> are there ?') },
      { db_id: 'x', words: w('how many <mask> are there ?') },
      { db_id: 'd', words: w('list <mask> , <mask> , <mask> and <mask> in order of <mask> with many <mask>') },
    ]);
    // 1 and 2 match every word and tie (pool order); 4 shares "many" and "<mask>", its length
    // and frequency saturated; 0 shares only "<mask>"; 3 is on the query's own database.
    expect(index.rank(w('how many <mask> are there ?'), 'x')).toEqual([1, 2, 4, 0]);
    expect(index.rank(w('how many <mask> are there ?'), 'b')).toEqual([2, 3, 4, 0]);
    expect(index.rank(w('nothing shared'), 'x')).toEqual([]);
  });
});

describe('spider-sft few_shot', () => {
  it('chooses the same examples every run for a known question, never from dev or the item\'s own database, within the budget', async () => {
    const withYaml = ', validation_databases: 1, few_shot: { k: 2, max_chars: 2000 }';
    const a = await runData(withYaml);
    expect(a.r.code, a.r.stderr).toBe(0);
    const b = await runData(withYaml);
    // Deterministic: the same bytes from a second run (a fresh cache).
    for (const o of ['train', 'dev', 'validation']) expect(readFileSync(b.outputs[o]!, 'utf8')).toBe(readFileSync(a.outputs[o]!, 'utf8'));

    // A known question: BM25 over the masked words ("how many <mask> do we have ?").
    expect(a.dev[0]!.input).toContain('How many singers do we have?');
    expect(exampleQuestions(a.dev[0]!)).toEqual(['How many different nationalities do conductors have?', 'How many employees are there?']);
    // The examples follow the schema, before the question, with their SQL.
    expect(a.dev[0]!.instruction).toContain(
      'concert_ID of concert.\n\n/* Some SQL examples are provided based on similar problems: */\n/* Answer the following: How many different nationalities do conductors have? */\nSELECT count(DISTINCT Nationality) FROM conductor\n',
    );

    const trainQuestions = new Map(trainSrc.map((x) => [x.question, x.db_id]));
    const scored = new Set([...devSrc.map((x) => x.question), ...a.validation.map((x) => x.input)]);
    const validationDbs = new Set(a.validation.map((x) => x.db_id));
    expect(validationDbs.size).toBe(1);
    let examples = 0;
    for (const rec of [...a.train, ...a.dev, ...a.validation]) {
      const qs = exampleQuestions(rec);
      examples += qs.length;
      expect(qs.length).toBeLessThanOrEqual(2);
      for (const q of qs) {
        // From the training split that trains (not dev, not the held-out validation databases) ...
        expect(trainQuestions.has(q), q).toBe(true);
        expect([...scored].some((s) => s.includes(q)), q).toBe(false);
        expect(validationDbs.has(trainQuestions.get(q)!), q).toBe(false);
        // ... and never from the prompt's own database (Spider's train and dev share none).
        expect(trainQuestions.get(q), `${rec.db_id}: ${q}`).not.toBe(rec.db_id);
      }
      expect(rec.instruction.length + rec.input.length).toBeLessThanOrEqual(2000);
    }
    expect(examples).toBeGreaterThan(1.5 * (a.train.length + a.dev.length + a.validation.length));
  });

  it('counts the examples in the length budget: a tight one gives fewer, none past it', async () => {
    const zero = await runData('');
    const longest = Math.max(...[...zero.train, ...zero.dev].map((x) => x.instruction.length + x.input.length));
    const budget = longest + 150;
    const { r, train, dev } = await runData(`, few_shot: { k: 3, max_chars: ${budget} }`);
    expect(r.code, r.stderr).toBe(0);
    const counts = [...train, ...dev].map((x) => exampleQuestions(x).length);
    for (const x of [...train, ...dev]) expect(x.instruction.length + x.input.length).toBeLessThanOrEqual(budget);
    // Room for one short example at most in the longest prompts, three in others.
    expect(Math.min(...counts)).toBeLessThan(3);
    expect(Math.max(...counts)).toBe(3);
    const said = r.events.filter((e) => e.type === 'step-log').map((e) => (e as { line: string }).line).join('\n');
    expect(said).toMatch(new RegExp(`^few-shot: [0-9.]+ examples per prompt \\(k = 3, bm25, masked\\); [1-9][0-9]* prompts got fewer \\(max_chars ${budget}\\)$`, 'm'));
  });

  it('k: 0 writes the same prompts as no few_shot', async () => {
    const a = await runData('');
    const b = await runData(', few_shot: { k: 0 }');
    expect(b.r.code, b.r.stderr).toBe(0);
    expect(readFileSync(b.outputs.train!, 'utf8')).toBe(readFileSync(a.outputs.train!, 'utf8'));
    expect(readFileSync(b.outputs.dev!, 'utf8')).toBe(readFileSync(a.outputs.dev!, 'utf8'));
  });

  it('refuses examples without a length budget, and an unknown method, at plan time', async () => {
    const s = sandbox();
    s.write('r.yml', `name: d\nsteps:\n  data:\n    uses: spider-sft\n    with:\n      spider: ${MINI}\n      few_shot:\n        k: 2\n`);
    let r = await s.flow(['plan', 'r.yml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*r\.yml:8:12: steps\.data\.with\.few_shot\.k: few_shot\.k above 0 adds examples to every prompt: set few_shot\.max_chars/m);
    s.write('r.yml', `name: d\nsteps:\n  data:\n    uses: spider-sft\n    with:\n      spider: ${MINI}\n      few_shot: { k: 2, max_chars: 900, method: dense }\n`);
    r = await s.flow(['plan', 'r.yml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/r\.yml:7:\d+: steps\.data\.with\.few_shot\.method/);
  });
});
