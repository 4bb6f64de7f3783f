// bench/data.ts — the spider-sft step on full Spider (8,659 train + 1,034 dev)
// through the engine, each schema format, against a baseline measured in the
// same run: reading and parsing the same input JSON files and nothing else.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runRecipe } from '../src/scheduler/run.js';
import { createStepRegistry } from '../src/cli/registry.js';
import { openWorkspace } from '../src/scheduler/workspace.js';
import { ROOT } from '../src/root.js';

const spider = resolve(ROOT, '..', 'shared', 'spider');
if (!existsSync(spider)) {
  console.log(`bench/data: ${spider} not found; skipped`);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'flow-bench-data-'));
try {
  let t = performance.now();
  for (const f of ['train_spider.json', 'train_others.json', 'dev.json', 'tables.json']) JSON.parse(readFileSync(join(spider, f), 'utf8'));
  const baseline = performance.now() - t;
  console.log('spider-sft on full Spider (8,659 train + 1,034 dev)');
  console.log(`  baseline: read and parse the input JSON  ${baseline.toFixed(0)} ms`);
  for (const fmt of ['dbgpt-hub', 'create-table']) {
    const recipe = join(dir, `${fmt}.yml`);
    writeFileSync(recipe, `name: data-bench\nsteps:\n  data:\n    uses: spider-sft\n    with: { spider: ${spider}, schema_format: ${fmt} }\n`);
    const ws = openWorkspace(join(dir, `cache-${fmt}`));
    let stepMs = 0;
    t = performance.now();
    await runRecipe(ws, createStepRegistry(), {
      recipeFile: recipe,
      sets: [],
      jobs: 1,
      argv: [],
      signal: new AbortController().signal,
      emit: (e) => {
        if (e.type === 'step-done') stepMs = e.durationMs;
        if (e.type === 'step-failed') throw new Error(e.error);
      },
    });
    const total = performance.now() - t;
    ws.close();
    console.log(`  ${fmt.padEnd(13)} step ${stepMs} ms, whole run ${total.toFixed(0)} ms (target < 2,000 ms: ${total < 2000 ? 'met' : 'MISSED'})`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
