import { defineConfig } from 'vitest/config';

// Test tiers, as vitest projects (`vitest run --project NAME`, several allowed):
// - unit:    in-process, no child flow, no Python, no Slurm, no browser.
// - engine:  the real CLI and real processes (shell steps, SQLite, the TUI), still no Python
//            environment, Slurm or browser. unit + engine is `npm run test:fast`.
// - faults:  the cache's fault-injection suite (SIGKILLs at failpoints, races between real flow
//            processes, a tmpfs filled up, an unprivileged user): no Python either, but the
//            slowest Node-only files, so outside `npm run test:fast` to keep it under 2 minutes.
// - python:  the managed Python environment (torch, transformers, ...): training, predict.
// - cluster: a real Slurm cluster on this machine (tests/helpers/slurm-cluster.ts).
// - browser: Chromium (playwright-core) renders the HTML report.
// The fast tiers name each file (tests/unit/ is unit by its folder); the python tier takes every
// test file no other tier names, so a new file nobody has classified runs where everything is at
// hand (`npm test` runs it; `npm run test:fast` does not) until it is named in a faster tier.

const UNIT = [
  'tests/unit/**/*.test.ts',
  'tests/architecture.test.ts',
  'tests/compare.test.ts',
  'tests/matrix.test.ts',
  'tests/plot.test.ts',
  'tests/python-preflight.test.ts',
  'tests/schema.test.ts',
  'tests/select-best.test.ts',
  'tests/spider-mini.test.ts',
  'tests/sql-eval.test.ts',
  'tests/sql-eval-bird.test.ts',
  'tests/sql-eval-interactions.test.ts',
  'tests/sql-eval-official.test.ts',
  'tests/sql-eval-rouge.test.ts',
  'tests/sql-eval-rules.test.ts',
  'tests/sql-eval-safety.test.ts',
  'tests/sql-inputs-pool.test.ts',
  'tests/sql-vote.test.ts',
  'tests/tui.test.ts',
  'tests/tui-follow.test.ts',
  'tests/tui-reporter.test.ts',
  'tests/tui-state.test.ts',
];

const ENGINE = [
  'tests/cli.test.ts',
  'tests/cli-inspect.test.ts',
  'tests/code-cache.test.ts',
  'tests/engine.test.ts',
  'tests/eval-questions.test.ts',
  'tests/matrix-e2e.test.ts',
  'tests/plain-eval-tables.test.ts',
  'tests/plan-executor.test.ts',
  'tests/plan-history.test.ts',
  'tests/plan-preflight.test.ts',
  'tests/project-cache.test.ts',
  'tests/python-templates.test.ts',
  'tests/docs.test.ts',
  'tests/recipes.test.ts',
  'tests/run-cosmetics.test.ts',
  'tests/spider-sft.test.ts',
  'tests/spider-sft-fewshot.test.ts',
  'tests/tui-e2e.test.ts',
];

const FAULTS = ['tests/cache-faults*.test.ts'];

const CLUSTER = ['tests/slurm*.test.ts'];

const BROWSER = ['tests/report.test.ts'];

const ALL = ['tests/**/*.test.ts', 'tests/**/*.test.tsx'];

export default defineConfig({
  test: {
    globalSetup: ['tests/setup/build.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Tests spawn real processes and share the machine's two cores.
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      { extends: true, test: { name: 'engine', include: ENGINE } },
      { extends: true, test: { name: 'python', include: ALL, exclude: [...UNIT, ...ENGINE, ...FAULTS, ...CLUSTER, ...BROWSER] } },
      { extends: true, test: { name: 'faults', include: FAULTS } },
      { extends: true, test: { name: 'cluster', include: CLUSTER } },
      { extends: true, test: { name: 'browser', include: BROWSER } },
    ],
  },
});
