// Python steps compute with the cores they are given: OMP_NUM_THREADS (which torch reads) from the
// step's resources.cpus, else its share of the machine's cores over --jobs; a user's own
// OMP_NUM_THREADS wins. Checked through the real CLI: each step's log says what torch saw.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { stepCpus } from '../src/scheduler/cpus.js';
import { threadEnv } from '../src/python/launch.js';
import { sandbox } from './helpers/cli.js';
import { FIXTURES, testPython } from './helpers/python.js';

it('shares the machine out: resources.cpus, else cores over --jobs; ranks on a node split a step\'s share', () => {
  expect(stepCpus({ local: true, jobs: 4, cores: 16 })).toBe(4);
  expect(stepCpus({ local: true, jobs: 3, cores: 2 })).toBe(1);
  expect(stepCpus({ asked: 6, local: true, jobs: 4, cores: 16 })).toBe(6);
  expect(stepCpus({ asked: 32, local: true, jobs: 1, cores: 16 })).toBe(16);
  // A batch job gets what it asked for from its scheduler, or the scheduler's default.
  expect(stepCpus({ asked: 32, local: false, jobs: 1, cores: 16 })).toBe(32);
  expect(stepCpus({ local: false, jobs: 1, cores: 16 })).toBeUndefined();
  expect(threadEnv(8, 2)).toEqual({ OMP_NUM_THREADS: '4' });
  expect(threadEnv(1, 2)).toEqual({ OMP_NUM_THREADS: '1' });
  expect(threadEnv(undefined, 1)).toEqual({});
});

it('a Python step\'s torch runs the threads it is given, and a user\'s OMP_NUM_THREADS wins', async () => {
  const python = await testPython();
  const s = sandbox();
  const w = (seed: number) => `{ train_file: ${join(FIXTURES, 'train.json')}, vocab_size: 300, hidden_size: 16, intermediate_size: 16, layers: 1, heads: 2, seed: ${seed} }`;
  const recipe = s.write('threads.yml', [
    'name: threads',
    'steps:',
    '  share:',
    '    uses: python:init-model',
    `    with: ${w(1)}`,
    '  asked:',
    '    uses: python:init-model',
    `    with: ${w(2)}`,
    '    resources: { cpus: 1 }',
    '  user:',
    '    uses: python:init-model',
    `    with: ${w(3)}`,
    '    resources: { cpus: 2 }',
    "    env: { OMP_NUM_THREADS: '1' }",
    '',
  ].join('\n'));
  const r = await s.flow(['run', recipe, '--ui', 'json', '--jobs', '2'], { env: { FLOW_PYTHON: python } });
  expect(r.code, r.stderr).toBe(0);
  const threads = (step: string) => {
    const start = r.events.find((e) => e.type === 'step-start' && e.step === step) as { logPath: string };
    return readFileSync(start.logPath, 'utf8').match(/^torch: (\d+) CPU threads \(OMP_NUM_THREADS (\w+)\)$/m)?.slice(1);
  };
  const share = String(Math.max(1, Math.floor(availableParallelism() / 2)));
  expect(threads('share')).toEqual([share, share]);
  expect(threads('asked')).toEqual(['1', '1']);
  // The engine would give it 2 (torch caps a thread count at the machine's cores).
  expect(threads('user')).toEqual(['1', '1']);
}, 600_000);
