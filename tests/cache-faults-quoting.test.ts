// Fault suite, issue 27 case 14: values reach shell steps as environment variables, never as
// shell text. Each case ends with the suite's invariants (helpers/cache-invariants.ts).

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { FLOW, sandbox, type Sandbox } from './helpers/cli.js';
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

describe('15. values flow cannot pass faithfully are refused, not mangled', () => {
  it.each([
    ['!!binary', 'v: !!binary aGk=', /^error: r\.yml:3:\d+: params\.v: YAML tags \(!!binary\) are not allowed/],
    ['!!set', 'v: !!set { a, b }', /^error: r\.yml:3:\d+: params\.v: YAML tags \(!!set\) are not allowed/],
    ['!!timestamp', 'v: !!timestamp 2001-12-14', /^error: r\.yml:3:\d+: params\.v: YAML tags \(!!timestamp\) are not allowed/],
    ['!!str', 'v: !!str 5', /^error: r\.yml:3:\d+: params\.v: YAML tags \(!!str\) are not allowed/],
    ['.inf', 'v: .inf', /^error: r\.yml:3:6: params\.v: \.inf is not a finite number/],
    ['.nan', 'v: .nan', /^error: r\.yml:3:6: params\.v: \.nan is not a finite number/],
    ['1e999', 'v: 1e999', /^error: r\.yml:3:6: params\.v: 1e999 is not a finite number/],
  ])('a recipe param %s: one line with file:line:col, exit 2', async (_what, param, why) => {
    const s = sandbox();
    s.write('r.yml', `name: t\nparams:\n  ${param}\nsteps:\n  a:\n    run: echo \${params.v} > a.txt\n    outputs: { out: a.txt }\n`);
    const r = await s.flow(['plan', 'r.yml']);
    assertNoStack(r.stderr);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(why);
  });

  it.each(['1e999', '.inf', '-.inf', '.nan'])('--set v=%s: one line, exit 2', async (v) => {
    const s = sandbox();
    s.write('r.yml', `name: t\nparams: { v: 1 }\nsteps:\n  a:\n    run: echo \${params.v} > a.txt\n    outputs: { out: a.txt }\n`);
    const r = await s.flow(['plan', 'r.yml', '--set', `v=${v}`]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --set v=.*: not a finite number/);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('a step named %s is refused (it would vanish), exit 2', async (name) => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  ${name}:\n    run: echo a > a.txt\n    outputs: { out: a.txt }\n`);
    const r = await s.flow(['run', 'r.yml', '--ui', 'plain']);
    assertNoStack(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(new RegExp(`^error: r\\.yml:3:3: .*"${name}" is a reserved name`));
  });
});
