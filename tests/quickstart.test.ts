// The README's first command, end to end on the CPU: data -> tiny model -> LoRA
// SFT -> merge -> predict -> eval, through the real CLI, then a warm re-run. It asserts what the
// runs printed and cached, never how long they took: its time limit only stops a hung run.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { createPlainReporter } from '../src/reporters/plain.js';
import type { EngineEvent } from '../src/events.js';
import { ROOT, runIdOf, sandbox } from './helpers/cli.js';
import { testPython } from './helpers/python.js';

/** The lines `--ui plain` prints for a run: the plain reporter fed the run's own events. */
function plainLines(events: EngineEvent[]): string[] {
  const lines: string[] = [];
  const out = { write: (s: string) => (lines.push(...s.split('\n').slice(0, -1)), true) } as unknown as NodeJS.WritableStream;
  const reporter = createPlainReporter({ color: false, out });
  for (const e of events) reporter.onEvent(e);
  return lines;
}

/** A hung run's limit, far beyond any load: the cold run took 7-8 minutes on 2 busy cores. */
const HUNG = 3 * 60 * 60_000;

/**
 * The lines `npm run quickstart` prints around the run itself on a fresh machine: npm's header of
 * the script (4, blank lines included), .ci/system-deps.sh's apt-get line (1), `npm run setup`
 * (npm install's "added N packages" and the build's header: 10, counted from its output), and the
 * managed env's build, a line per phase (3: resolving and downloading, installing, ready;
 * tests/python-env.test.ts). The whole must stay within 60 lines.
 */
const AROUND_THE_RUN = 4 + 1 + 10 + 3;

let python: string;
beforeAll(async () => {
  // The managed env shared with the other Python tests, so CI builds it once.
  python = await testPython();
});

it('runs the quickstart recipe cold, prints real EX/EM, and re-runs warm from the cache', async () => {
  const s = sandbox();
  const recipe = join(ROOT, 'recipes', 'quickstart.yml');
  const env = { FLOW_PYTHON: python };
  const cold = await s.flow(['run', recipe, '--ui', 'json'], { env });
  expect(cold.code, cold.stderr).toBe(0);
  expect(s.executions(runIdOf(cold.events))).toEqual({ data: 'done', model: 'done', train: 'done', merge: 'done', predict: 'done', eval: 'done' });

  const done = (step: string) => cold.events.find((e) => e.type === 'step-done' && e.step === step) as { outputs: Record<string, string>; metrics?: Record<string, Record<string, number>> };
  // One prediction per dev item, in dev order.
  const dev = JSON.parse(readFileSync(done('data').outputs.dev!, 'utf8'));
  const predictions = readFileSync(done('predict').outputs.predictions!, 'utf8');
  expect(predictions.endsWith('\n') && predictions.split('\n').length - 1).toBe(dev.length);
  const metrics = done('eval').metrics!;
  expect(metrics.count!.all).toBe(dev.length);
  for (const k of ['ex', 'em']) for (const level of ['easy', 'medium', 'hard', 'extra', 'all']) expect(metrics[k]![level]).toBeGreaterThanOrEqual(0);
  // The training loss history was recorded for plots.
  const progress = cold.events.filter((e) => e.type === 'step-progress' && e.step === 'train');
  expect(progress.length).toBeGreaterThan(5);

  // The train step's log has the Trainer's line at each logging step (400 steps, logging_steps 10).
  const trainLog = readFileSync((cold.events.find((e) => e.type === 'step-start' && e.step === 'train') as { logPath: string }).logPath, 'utf8');
  expect(trainLog.match(/^\{'loss': '[\d.e+-]+', 'grad_norm': '[\d.e+-]+', 'learning_rate': '[\d.e+-]+', 'epoch': '[\d.e+-]+'\}$/gm)).toHaveLength(40);

  // In plain mode (CI, a pipe) `npm run quickstart` prints at most 60 lines on a fresh machine, all
  // of them meaningful: no line twice, no library noise (Python's echo of the warning call, the
  // Trainer's raw dicts, which go to the step's log only). The cold run above is --ui json for its
  // events; plain mode is the same events through the plain reporter, plus whatever the run wrote
  // on stderr.
  const printed = [...plainLines(cold.events), ...cold.stderr.split('\n').filter(Boolean)];
  const listing = printed.join('\n');
  expect(printed.length + AROUND_THE_RUN, listing).toBeLessThanOrEqual(60);
  const text = printed.filter((l) => l.trim() !== '');
  expect(text.filter((l, i) => text.indexOf(l) !== i), listing).toEqual([]);
  expect(listing).not.toMatch(/warnings\.warn\(|\{'loss': |kernels-community/);
  // What the table measures: questions on databases training never saw.
  expect(listing).toMatch(/spider-sft: .* dev asks about 2 databases held out from training$/m);
  expect(listing).toMatch(/^eval: accuracy by hardness$/m);

  const warm = await s.flow(['run', recipe, '--ui', 'plain'], { env });
  expect(warm.code).toBe(0);
  expect(warm.stdout).toMatch(/run done in [^:]+: 0 ran, 6 cached/);
  expect(warm.stdout).toMatch(/ {2}EX {7}\d\.\d{3}/);
}, HUNG);
