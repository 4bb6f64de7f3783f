// Small things a fault-injection pass found (issue 27, "cosmetic items"): each a real run of the CLI.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { lineFrom, sandbox } from './helpers/cli.js';

describe('run cosmetics', () => {
  it('--jobs 16 prints no MaxListenersExceededWarning', async () => {
    const s = sandbox();
    const steps = Array.from({ length: 14 }, (_, i) => `  s${i}:\n    run: sleep 0.2; echo ${i} > "$FLOW_OUTPUT_O"\n    outputs: { o: o.txt }\n`).join('');
    s.write('r.yml', `name: wide\nsteps:\n${steps}`);
    const r = await s.flow(['run', 'r.yml', '--jobs', '16', '--ui', 'plain']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/MaxListeners|memory leak/);
  });

  it('a step whose last attempt failed or crashed is not "never ran" in the plan', async () => {
    const s = sandbox();
    s.write('r.yml', `name: f\nsteps:\n  a:\n    run: test -f "$FLOW_RECIPE_DIR/ok"; echo a > "$FLOW_OUTPUT_O"\n    outputs: { o: o.txt }\n`);
    expect((await s.flow(['plan', 'r.yml', '--json'])).stdout).toContain('"never ran"');
    expect((await s.flow(['run', 'r.yml', '--ui', 'plain'])).code).toBe(1);
    expect((await s.flow(['plan', 'r.yml', '--json'])).stdout).toContain('"last attempt failed"');
    // A run killed outright: its step is marked crashed by the next run, and said so by the plan after.
    const gate = s.gate('hold');
    s.write('r.yml', `name: f\nsteps:\n  a:\n    run: ${gate.command}; echo a > "$FLOW_OUTPUT_O"\n    outputs: { o: o.txt }\n`);
    const child = s.spawn(['run', 'r.yml', '--ui', 'json']);
    await lineFrom(child, (l) => l.includes('step-start'));
    child.kill('SIGKILL');
    await child;
    s.write('other.yml', `name: other\nsteps:\n  x:\n    run: echo x > "$FLOW_OUTPUT_O"\n    outputs: { o: o.txt }\n`);
    expect((await s.flow(['run', 'other.yml', '--ui', 'plain'])).code).toBe(0);
    const plan = await s.flow(['plan', 'r.yml']);
    expect(plan.stdout).toMatch(/last attempt crashed/);
    expect(plan.stdout).not.toMatch(/never ran/);
  });

  it('SIGHUP (the terminal closed) cancels like SIGINT: exit 130, run and step recorded cancelled', async () => {
    const s = sandbox();
    const gate = s.gate('hold');
    s.write('r.yml', `name: h\nsteps:\n  a:\n    run: ${gate.command}; echo a > "$FLOW_OUTPUT_O"\n    outputs: { o: o.txt }\n`);
    const child = s.spawn(['run', 'r.yml', '--ui', 'json']);
    const start = JSON.parse(await lineFrom(child, (l) => l.includes('step-start'))) as { runId: string };
    child.kill('SIGHUP');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(s.executions(start.runId)).toEqual({ a: 'cancelled' });
    const db = new Database(join(s.cache, 'flow.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT status FROM runs WHERE id = ?').get(start.runId)).toEqual({ status: 'cancelled' });
    } finally {
      db.close();
    }
  });

  it('FLOW_STEP_ID enters the key of a step that reads it: two steps with one command keep their own ids', async () => {
    const s = sandbox();
    const step = (id: string) => `  ${id}:\n    run: echo "$FLOW_STEP_ID" > "$FLOW_OUTPUT_O"\n    outputs: { o: o.txt }\n`;
    // Two steps that do not read their id still share one result.
    const same = (id: string) => `  ${id}:\n    run: echo same > "$FLOW_OUTPUT_O"\n    outputs: { o: o.txt }\n`;
    s.write('r.yml', `name: ids\nsteps:\n${step('first')}${step('second')}${same('p')}${same('q')}`);
    const r = await s.flow(['run', 'r.yml', '--ui', 'json', '--jobs', '1']);
    expect(r.code).toBe(0);
    const done = new Map(r.events.flatMap((e) => (e.type === 'step-done' || e.type === 'step-cached' ? [[e.step, e] as const] : [])));
    const text = (id: string) => readFileSync(done.get(id)!.outputs.o!, 'utf8');
    expect(text('first')).toBe('first\n');
    expect(text('second')).toBe('second\n');
    expect(done.get('p')!.key).toBe(done.get('q')!.key);
  });
});
