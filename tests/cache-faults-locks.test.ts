// Fault suite, issue 27 cases 2 and 7 and its "Also": what changes the cache under a run (gc,
// doctor --rebuild, another run's --force) waits for it or refuses, and "newest" is by sequence,
// not by clock. Failpoints (src/cache/failpoint.ts) stop a process at the moment that matters
// instead of sleeping; each case ends with the suite's invariants.

import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ResultPromise } from 'execa';
import { runIdOf, sandbox, type Sandbox } from './helpers/cli.js';
import { assertNoStack, assertObjectsIntact, assertServedIntact, sentinel } from './helpers/cache-invariants.js';

type Events = Awaited<ReturnType<Sandbox['flow']>>['events'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `file` exists (a paused failpoint's file, or a step's marker). */
async function until(file: string): Promise<void> {
  for (let i = 0; i < 6000 && !existsSync(file); i++) await sleep(20);
  expect(existsSync(file), `${file} never appeared`).toBe(true);
}

/** Resolves with what a child has written to stderr once it holds `text`, or rejects when it ends first. */
function stderrHolds(child: ResultPromise, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let all = '';
    child.stderr!.on('data', (d: Buffer) => {
      all += d.toString();
      if (all.includes(text)) resolve(all);
    });
    child.then(() => reject(new Error(`ended without printing "${text}": ${all}`)), reject);
  });
}

function outputOf(events: Events, step: string, name: string): string {
  const e = events.find((x) => (x.type === 'step-done' || x.type === 'step-cached') && x.step === step);
  return e && (e.type === 'step-done' || e.type === 'step-cached') ? e.outputs[name]! : '';
}

/** Each step appends its name to the ledger when it executes: no key may execute twice. */
const recipe = (name: string, ledger: string) =>
  `name: ${name}\nsteps:\n  a:\n    run: echo ${name}-a >> ${ledger} && echo ${name} > a.txt\n    outputs: { out: a.txt }\n  b:\n    run: echo ${name}-b >> ${ledger} && cat \${steps.a.outputs.out} > b.txt\n    outputs: { out: b.txt }\n`;

/** one.yml and two.yml (the recipe above, one shared ledger), each run once to completion; the ledger's path. */
async function twoRecipesRun(s: Sandbox): Promise<string> {
  const ledger = join(s.dir, 'ledger');
  s.write('one.yml', recipe('one', ledger));
  s.write('two.yml', recipe('two', ledger));
  expect((await s.flow(['run', 'one.yml', '--ui', 'json'])).code).toBe(0);
  expect((await s.flow(['run', 'two.yml', '--ui', 'json'])).code).toBe(0);
  return ledger;
}

const PAUSE_ENV = (point: string, file: string) => ({ FLOW_FAILPOINT_PAUSE: `${point}:${file}`, FLOW_FAILPOINT_PAUSE_MS: '120000' });

describe('7. gc and doctor --rebuild never act under a run', () => {
  it('gc while a run is between its plan and its start refuses; the run serves what it chose to reuse', async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    const ledger = await twoRecipesRun(s);
    // A run of one.yml has planned to reuse one's entries (not the newest run's) and stops there.
    const pause = join(s.dir, 'paused');
    const child = s.spawn(['run', 'one.yml', '--ui', 'json'], { env: PAUSE_ENV('run:planned', pause) });
    await until(pause);
    const gc = await s.flow(['gc', '--keep', '1']);
    assertNoStack(gc.stderr);
    expect(gc.code, gc.stdout).toBe(2);
    expect(gc.stderr.trim()).toMatch(/^error: 1 run\(s\) in progress on .*; gc when they end$/);
    rmSync(pause);
    const r = await s.collect(child, ['--ui', 'json']);
    assertNoStack(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    expect(s.executions(runIdOf(r.events))).toEqual({ a: 'cached', b: 'cached' });
    expect(readFileSync(outputOf(r.events, 'b', 'out'), 'utf8')).toBe('one\n');
    expect(readFileSync(ledger, 'utf8').trim().split('\n').sort()).toEqual(['one-a', 'one-b', 'two-a', 'two-b']);
    // Once the run has ended, gc runs.
    expect((await s.flow(['gc', '--keep', '1'])).code).toBe(0);
    await assertServedIntact(s.cache);
    await assertObjectsIntact(s.cache);
    expect(out.digest()).toBe(before);
  });

  it('a run that starts while gc is collecting waits for it, then plans on what is left', async () => {
    const s = sandbox();
    await twoRecipesRun(s);
    const pause = join(s.dir, 'paused');
    const gc = s.spawn(['gc', '--keep', '1'], { env: PAUSE_ENV('gc:checked', pause) });
    await until(pause);
    const child = s.spawn(['run', 'one.yml', '--ui', 'json']);
    await stderrHolds(child, 'waiting for flow gc or doctor');
    rmSync(pause);
    const g = await s.collect(gc, []);
    expect(g.code, g.stderr).toBe(0);
    const r = await s.collect(child, ['--ui', 'json']);
    assertNoStack(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    // gc removed one's entries before the run planned: it runs them again, once.
    expect(s.executions(runIdOf(r.events))).toEqual({ a: 'done', b: 'done' });
    expect(readFileSync(outputOf(r.events, 'b', 'out'), 'utf8')).toBe('one\n');
    await assertServedIntact(s.cache);
    await assertObjectsIntact(s.cache);
  });

  it('two gcs at once: the second waits for the first, both succeed', async () => {
    const s = sandbox();
    await twoRecipesRun(s);
    const pause = join(s.dir, 'paused');
    const first = s.spawn(['gc', '--keep', '1'], { env: PAUSE_ENV('gc:checked', pause) });
    await until(pause);
    const second = s.spawn(['gc', '--keep', '1']);
    await stderrHolds(second, 'gc: waiting for another gc or doctor');
    rmSync(pause);
    for (const [name, child] of [['first', first], ['second', second]] as const) {
      const r = await s.collect(child, []);
      assertNoStack(r.stderr);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
    }
    await assertServedIntact(s.cache);
    await assertObjectsIntact(s.cache);
  });

  it('doctor --rebuild during a run refuses and leaves the live database in place; no key executes twice', async () => {
    const s = sandbox();
    const ledger = join(s.dir, 'ledger');
    s.write('one.yml', recipe('one', ledger));
    const pause = join(s.dir, 'paused');
    const child = s.spawn(['run', 'one.yml', '--ui', 'json'], { env: PAUSE_ENV('run:planned', pause) });
    await until(pause);
    const doctor = await s.flow(['doctor', '--rebuild']);
    assertNoStack(doctor.stderr);
    expect(doctor.code).toBe(2);
    expect(doctor.stderr.trim()).toMatch(/^error: 1 run\(s\) in progress on .*; doctor --rebuild when they end$/);
    expect(readdirSync(s.cache).filter((n) => n.startsWith('flow.db.old'))).toEqual([]);
    // A second run of the same keys meanwhile: it waits on the first run's key locks, which stay.
    const other = s.spawn(['run', 'one.yml', '--ui', 'json']);
    rmSync(pause);
    const [r1, r2] = [await s.collect(child, ['--ui', 'json']), await s.collect(other, ['--ui', 'json'])];
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    expect(readFileSync(ledger, 'utf8').trim().split('\n').sort()).toEqual(['one-a', 'one-b']);
    expect((await s.flow(['doctor', '--rebuild'])).code).toBe(0);
    await assertServedIntact(s.cache);
    await assertObjectsIntact(s.cache);
  });
});

describe('2. --force S while another run reads S', () => {
  it("the reader sees S's old files only, and the forced result replaces them once the reader has ended", async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    const reading = join(s.dir, 'reading');
    const gate = s.gate('read');
    // s writes two files with the same fresh token; t reads one, waits, then reads the other.
    s.write(
      'r.yml',
      `name: t\nsteps:\n  s:\n    run: mkdir res && head -c 8 /dev/urandom | od -An -tx1 > res/one && cp res/one res/two\n    outputs: { res: res }\n` +
        `  t:\n    run: cat \${steps.s.outputs.res}/one > t.txt && touch ${reading} && ${gate.command} && cat \${steps.s.outputs.res}/two >> t.txt\n    outputs: { out: t.txt }\n`,
    );
    expect((await s.flow(['run', 'r.yml', '--only', 's', '--ui', 'json'])).code).toBe(0);
    const reader = s.spawn(['run', 'r.yml', '--ui', 'json']);
    await until(reading);
    const pause = join(s.dir, 'paused');
    const forcer = s.spawn(['run', 'r.yml', '--only', 's', '--force', 's', '--ui', 'json'], { env: PAUSE_ENV('commit:pinned', pause) });
    // The forced commit waits for the reader (it reaches the failpoint) rather than replacing s.
    const first = await Promise.race([until(pause).then(() => 'waits'), s.collect(forcer, ['--ui', 'json']).then(() => 'replaced')]);
    expect(first).toBe('waits');
    rmSync(pause);
    await gate.release();
    const r = await s.collect(reader, ['--ui', 'json']);
    assertNoStack(r.stderr);
    expect(r.code, r.stderr).toBe(0);
    const [one, two] = readFileSync(outputOf(r.events, 't', 'out'), 'utf8').split('\n');
    expect(two, 'the reader saw old and new files mixed').toBe(one);
    const f = await s.collect(forcer, ['--ui', 'json']);
    expect(f.code, f.stderr).toBe(0);
    // The next run sees the forced s: t re-runs on it (its old result is not served for the new s).
    const newest = readFileSync(join(outputOf(f.events, 's', 'res'), 'one'), 'utf8');
    expect(newest).not.toBe(`${one}\n`);
    const again = s.spawn(['run', 'r.yml', '--ui', 'json']);
    await gate.release();
    const next = await s.collect(again, ['--ui', 'json']);
    expect(next.code, next.stderr).toBe(0);
    expect(s.executions(runIdOf(next.events))).toEqual({ s: 'cached', t: 'done' });
    expect(readFileSync(outputOf(next.events, 't', 'out'), 'utf8')).toBe(newest + newest);
    await assertServedIntact(s.cache);
    await assertObjectsIntact(s.cache);
    expect(out.digest()).toBe(before);
  });
});

describe('Also: "newest" by sequence, liveness by pid and start time', () => {
  it('a run recorded with the clock a year ahead is not newest forever: status last and gc --keep 1 follow the run order', async () => {
    const s = sandbox();
    const ledger = join(s.dir, 'ledger');
    s.write('one.yml', recipe('one', ledger));
    s.write('two.yml', recipe('two', ledger));
    const first = await s.flow(['run', 'one.yml', '--ui', 'json']);
    expect(first.code).toBe(0);
    const db = new Database(join(s.cache, 'flow.db'));
    db.prepare('UPDATE runs SET started_at = started_at + ?, ended_at = ended_at + ? WHERE id = ?').run(365 * 86_400_000, 365 * 86_400_000, runIdOf(first.events));
    db.close();
    const second = await s.flow(['run', 'two.yml', '--ui', 'json']);
    expect(second.code).toBe(0);
    const last = await s.flow(['status', 'last']);
    expect(last.code, last.stderr).toBe(0);
    expect(last.stdout).toContain(runIdOf(second.events));
    expect(last.stdout).not.toContain(runIdOf(first.events));
    const gc = await s.flow(['gc', '--keep', '1']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/removed 2 entries/);
    const again = await s.flow(['run', 'two.yml', '--ui', 'json']);
    expect(s.executions(runIdOf(again.events))).toEqual({ a: 'cached', b: 'cached' });
    await assertServedIntact(s.cache);
    await assertObjectsIntact(s.cache);
  });

  it('flow attach to a run whose driver pid now belongs to another process ends, saying the driver is gone', { timeout: 120_000 }, async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: echo a > a.txt\n    outputs: { out: a.txt }\n`);
    expect((await s.flow(['run', 'r.yml', '--ui', 'json'])).code).toBe(0);
    // The driver died and its pid went to another live process (this test's): same pid, another start time.
    const db = new Database(join(s.cache, 'flow.db'));
    db.prepare("INSERT INTO runs (id, recipe, name, status, started_at, params, argv, pid, pid_start) VALUES ('reused', ?, 't', 'running', ?, '{}', '[]', ?, '1')")
      .run(join(s.dir, 'r.yml'), Date.now(), process.pid);
    db.close();
    const child = s.spawn(['attach', 'reused', '--ui', 'plain']);
    // A hang is the failure: bounded far above what an attach to an ended run takes.
    const bound = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const r = await s.collect(child, []);
    clearTimeout(bound);
    assertNoStack(r.stderr);
    expect(r.code, `${r.stdout}${r.stderr}`).not.toBe(-1);
    expect(`${r.stdout}${r.stderr}`).toMatch(new RegExp(`pid ${process.pid}\\) is gone`));
  });
});
