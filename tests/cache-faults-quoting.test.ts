// Fault suite, issue 27 case 14: values reach shell steps as environment variables, never as
// shell text. Each case ends with the suite's invariants (helpers/cache-invariants.ts).

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { FLOW, sandbox, type Sandbox } from './engine/cli.js';
import { assertNoStack, assertServedIntact, sentinel } from './helpers/cache-invariants.js';

function outputOf(events: Awaited<ReturnType<Sandbox['flow']>>['events'], step: string, name: string): string {
  const e = events.find((x) => (x.type === 'step-done' || x.type === 'step-cached') && x.step === step);
  return e && (e.type === 'step-done' || e.type === 'step-cached') ? e.outputs[name]! : '';
}

describe('14. values are never pasted into run: text', () => {
  it("--set 'v=$(touch PWNED)' reaches the step as text, quoted or not, and runs nothing", async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    const pwned = join(s.dir, 'PWNED');
    // Unquoted, in double quotes, in single quotes (with a quote of its own), in $'...' and in a comment.
    const run = `echo \${params.v} > a.txt; echo "[\${params.v}]" >> a.txt; echo '<\${params.v}>' >> a.txt; echo $'{\${params.v}}' >> a.txt # don't \${params.v}`;
    s.write('r.yml', `name: t\nparams: { v: x }\nsteps:\n  a:\n    run: ${JSON.stringify(run)}\n    outputs: { out: a.txt }\n`);
    for (const v of [`$(touch ${pwned})`, `x\`touch ${pwned}\`; touch ${pwned} '" x`]) {
      const r = await s.flow(['run', 'r.yml', '--set', `v=${v}`, '--ui', 'json']);
      assertNoStack(r.stderr);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(pwned), `${v} ran`).toBe(false);
      expect(readFileSync(outputOf(r.events, 'a', 'out'), 'utf8')).toBe(`${v}\n[${v}]\n<${v}>\n{${v}}\n`);
    }
    expect(out.digest()).toBe(before);
    await assertServedIntact(s.cache);
  });

  it.each(['with$dollar', 'with"double', "with'single", 'with space'])('a cache dir %s: steps that read upstream outputs work, quoted or not', async (name) => {
    const s = sandbox();
    const cache = join(s.dir, name, 'cache');
    mkdirSync(join(s.dir, name));
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: mkdir res && echo one > res/f\n    outputs: { res: res }\n  b:\n    run: cat \${steps.a.outputs.res}/f "\${steps.a.outputs.res}/f" '\${steps.a.outputs.res}'/f > b.txt\n    outputs: { out: b.txt }\n`);
    // Its own flow process: the sandbox's commands name the sandbox's cache.
    const r = await s.collect(execa(process.execPath, [FLOW, 'run', 'r.yml', '--ui', 'json', '--cache-dir', cache], { cwd: s.dir, reject: false }), ['json']);
    assertNoStack(r.stderr);
    expect(r.code, r.stdout.slice(-2000)).toBe(0);
    expect(readFileSync(outputOf(r.events, 'b', 'out'), 'utf8')).toBe('one\none\none\n');
    expect(outputOf(r.events, 'b', 'out').startsWith(cache)).toBe(true);
    await assertServedIntact(cache);
  });
});
