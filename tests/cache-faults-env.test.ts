// Fault suite, issue 27 cases 5 and 9-13: errors of the environment (closed pipes, a full disk,
// permissions, a busy database, deep graphs) are one line with what to do and a documented exit
// code, never a stack trace.

import { describe, expect, it } from 'vitest';
import { sandbox } from './engine/cli.js';
import { assertNoStack } from './helpers/cache-invariants.js';

describe('12. deep graphs need no deep stack', () => {
  it('flow dag of a 3,000-step chain prints it', async () => {
    const s = sandbox();
    const steps = Array.from({ length: 3000 }, (_, i) => `  s${i}:\n    run: 'true'\n${i ? `    needs: [s${i - 1}]\n` : ''}`);
    s.write('chain.yml', `name: t\nsteps:\n${steps.join('')}`);
    const r = await s.flow(['dag', 'chain.yml']);
    assertNoStack(r.stderr);
    expect(r.code, r.stderr.slice(0, 500)).toBe(0);
    expect(r.stdout).toMatch(/s2999/);
  });

  it('a 5,000-step cycle is one line naming file:line:col, exit 2', async () => {
    const s = sandbox();
    const n = 5000;
    const steps = Array.from({ length: n }, (_, i) => `  s${i}:\n    run: 'true'\n    needs: [s${(i + 1) % n}]\n`);
    s.write('cycle.yml', `name: t\nsteps:\n${steps.join('')}`);
    const r = await s.flow(['validate', 'cycle.yml']);
    assertNoStack(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: cycle\.yml:\d+:\d+: steps\.s\d+: dependency cycle: s0 -> s1 -> .* -> s0/);
  });
});
