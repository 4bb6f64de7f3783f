// Fault suite, issue 27: writers that outlive their step, file modes and stale stats. Each case
// ends with the suite's invariants (helpers/cache-invariants.ts).

import { appendFileSync, chmodSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { FLOW, runIdOf, sandbox, type Sandbox } from './helpers/cli.js';
import { assertNoStack, assertObjectsIntact, assertServedIntact, sentinel } from './helpers/cache-invariants.js';

async function run(s: Sandbox, args: string[], env?: Record<string, string>) {
  return s.flow(['run', ...args, '--ui', 'json'], { env });
}

function outputOf(events: Awaited<ReturnType<Sandbox['flow']>>['events'], step: string, name: string): string {
  const e = events.find((x) => (x.type === 'step-done' || x.type === 'step-cached') && x.step === step);
  return e && (e.type === 'step-done' || e.type === 'step-cached') ? e.outputs[name]! : '';
}

/** Waits for a paused failpoint's file (failpoint.ts), lets `act` run, then releases the process. */
async function atPause(file: string, act: () => void): Promise<void> {
  for (let i = 0; i < 1000 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
  expect(existsSync(file), 'the failpoint was not reached').toBe(true);
  act();
  rmSync(file);
}

function objectFiles(cache: string): string[] {
  const root = join(cache, 'objects');
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)).map((n) => join(root, d, n)));
}

describe('1. a writer that outlives the step', () => {
  const RECIPE = `name: t\nsteps:\n  a:\n    run: echo base > a.txt\n    outputs: { out: a.txt }\n`;

  it('an output written between its hashing and its record is re-hashed: the object always holds the bytes it is named by', async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    s.write('r.yml', RECIPE);
    const pause = join(s.dir, 'paused');
    const child = s.spawn(['run', 'r.yml', '--ui', 'json'], { env: { FLOW_FAILPOINT_PAUSE: `commit:hashed:${pause}` } });
    await atPause(pause, () => {
      const [exec] = readdirSync(join(s.cache, 'work'));
      appendFileSync(join(s.cache, 'work', exec!, 'a.txt'), 'LATE\n');
    });
    const r = await s.collect(child, ['--ui', 'json']);
    assertNoStack(r.stderr);
    expect(r.code).toBe(0);
    expect(readFileSync(outputOf(r.events, 'a', 'out'), 'utf8')).toBe('base\nLATE\n');
    expect(await assertObjectsIntact(s.cache)).toBe(1);
    expect(await assertServedIntact(s.cache)).toBe(1);
    expect(out.digest()).toBe(before);
  });

  it('an object written after it was linked and before its stat is recorded is refused, never recorded', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    const pause = join(s.dir, 'paused');
    const child = s.spawn(['run', 'r.yml', '--ui', 'json'], { env: { FLOW_FAILPOINT_PAUSE: `commit:object-linked:${pause}` } });
    await atPause(pause, () => appendFileSync(objectFiles(s.cache)[0]!, 'LATE\n'));
    const r = await s.collect(child, ['--ui', 'json']);
    assertNoStack(r.stderr);
    expect(r.code).toBe(1);
    const failed = r.events.find((e) => e.type === 'step-failed');
    expect(failed && failed.type === 'step-failed' ? failed.error : '').toMatch(/a\.txt changed while it was being committed/);
    await assertObjectsIntact(s.cache);
    await assertServedIntact(s.cache);
    // Another recipe whose step writes the original bytes gets them, not the poisoned ones.
    s.write('other.yml', `name: o\nsteps:\n  b:\n    run: echo base > b.txt\n    outputs: { out: b.txt }\n`);
    const other = await run(s, ['other.yml']);
    expect(other.code).toBe(0);
    expect(readFileSync(outputOf(other.events, 'b', 'out'), 'utf8')).toBe('base\n');
    await assertObjectsIntact(s.cache);
  });

  it('a setsid daemon the step left holding an output is killed before the commit', async () => {
    const s = sandbox();
    const marker = join(s.dir, 'daemon-wrote');
    // The daemon double-forks out of the step's session and process group, keeps the output open,
    // and writes to it a little after the step's leader exits.
    // The step waits until the daemon is out of its group, so the group is empty when it exits.
    const daemon = `setsid bash -c 'exec 3>>a.txt; touch ../started-$$; sleep 1; echo LATE >&3; echo yes > ${marker}' </dev/null >/dev/null 2>&1 &`;
    const wait = 'until ls ../started-* >/dev/null 2>&1; do sleep 0.02; done; rm ../started-*;';
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: "${daemon} ${wait} echo base > a.txt"\n    outputs: { out: a.txt }\n`);
    const r = await run(s, ['r.yml']);
    assertNoStack(r.stderr);
    expect(r.code).toBe(0);
    expect(r.events.some((e) => e.type === 'step-log' && /left background processes running/.test(e.line))).toBe(true);
    await new Promise((res) => setTimeout(res, 1500));
    expect(existsSync(marker), 'the daemon outlived its step').toBe(false);
    expect(readFileSync(outputOf(r.events, 'a', 'out'), 'utf8')).toBe('base\n');
    const again = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(again.events))).toEqual({ a: 'cached' });
    await assertObjectsIntact(s.cache);
    await assertServedIntact(s.cache);
  });
});

describe('two commits of the same bytes at once', () => {
  it('a commit that finds no object, then loses the race to make it, takes the one that is there: both succeed', async () => {
    // The compare-significance flake: two sql-eval steps wrote byte-identical files; one renamed
    // its file over the object the other had just made, and the other failed with "changed while
    // it was being committed" (its object's inode had moved under it).
    const s = sandbox();
    const step = (id: string, n: number) => `name: ${id}\nsteps:\n  ${id}:\n    run: echo same-bytes > o.txt\n    env: { N: "${n}" }\n    outputs: { out: o.txt }\n`;
    s.write('first.yml', step('first', 1));
    s.write('second.yml', step('second', 2));
    const p1 = join(s.dir, 'p1');
    const p2 = join(s.dir, 'p2');
    // first: finds no object and stops before making it; second: makes it and stops before its record.
    const first = s.spawn(['run', 'first.yml', '--ui', 'json'], { env: { FLOW_FAILPOINT_PAUSE: `commit:object-absent:${p1}`, FLOW_FAILPOINT_PAUSE_MS: '60000' } });
    for (let i = 0; i < 3000 && !existsSync(p1); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(p1), 'first did not reach commit:object-absent').toBe(true);
    const second = s.spawn(['run', 'second.yml', '--ui', 'json'], { env: { FLOW_FAILPOINT_PAUSE: `commit:object-moved:${p2}`, FLOW_FAILPOINT_PAUSE_MS: '60000' } });
    await atPause(p2, () => rmSync(p1)); // first goes on to place its object while second waits
    const r1 = await s.collect(first, ['--ui', 'json']);
    const r2 = await s.collect(second, ['--ui', 'json']);
    for (const r of [r1, r2]) {
      assertNoStack(r.stderr);
      expect(r.code, JSON.stringify(r.events.filter((e) => e.type === 'step-failed'))).toBe(0);
    }
    expect(readFileSync(outputOf(r1.events, 'first', 'out'), 'utf8')).toBe('same-bytes\n');
    expect(readFileSync(outputOf(r2.events, 'second', 'out'), 'utf8')).toBe('same-bytes\n');
    expect(await assertObjectsIntact(s.cache)).toBe(1);
    await assertServedIntact(s.cache);
  });
});

describe('2. the executable bit is part of an object', () => {
  const plain = `name: p\nsteps:\n  a:\n    run: printf 'echo hi\\\\n' > t.sh\n    outputs: { s: t.sh }\n`;
  const executable = `name: x\nsteps:\n  b:\n    run: printf 'echo hi\\\\n' > t.sh && chmod +x t.sh\n    outputs: { s: t.sh }\n  c:\n    run: \${steps.b.outputs.s} > c.txt\n    outputs: { out: c.txt }\n`;

  it.each([
    ['plain first, then executable', [plain, executable]],
    ['executable first, then plain', [executable, plain]],
  ])('%s: each is served with its own mode, every time', async (_what, order) => {
    const s = sandbox();
    order.forEach((r, i) => s.write(`r${i}.yml`, r));
    for (const pass of [0, 1]) {
      for (const i of [0, 1]) {
        const r = await run(s, [`r${i}.yml`]);
        assertNoStack(r.stderr);
        expect(r.code, `pass ${pass}, r${i}: ${r.stderr}`).toBe(0);
        const name = order[i] === plain ? 'a' : 'b';
        const mode = lstatSync(outputOf(r.events, name, 's')).mode;
        expect(mode & 0o111, `${name} served with the wrong mode`).toBe(order[i] === plain ? 0 : 0o111);
      }
    }
    expect(await assertObjectsIntact(s.cache)).toBe(3); // t.sh plain, t.sh executable, c.txt
    await assertServedIntact(s.cache);
    const v = await s.flow(['verify']);
    expect(v.code, v.stdout).toBe(0);
  });

  it('flow verify reports an object whose mode no longer matches its name', async () => {
    const s = sandbox();
    s.write('r.yml', executable);
    expect((await run(s, ['r.yml'])).code).toBe(0);
    const obj = objectFiles(s.cache).find((p) => p.endsWith('.x'))!;
    chmodSync(obj, 0o444);
    const v = await s.flow(['verify']);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/1 damaged, 1 entry affected/);
    const again = await run(s, ['r.yml']);
    expect(again.code).toBe(0);
    expect(s.executions(runIdOf(again.events)).b).toBe('done');
  });
});

describe('3. one "unchanged file" rule, ctime included', () => {
  it('an input rewritten in place with its size, mtime and inode kept (touch -r, cp -p) is read again', async () => {
    const s = sandbox();
    const data = s.write('data.txt', 'aaaa\n');
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: cp data.txt a.txt\n    inputs: [data.txt]\n    outputs: { out: a.txt }\n`.replace('cp data.txt', 'cp $FLOW_RECIPE_DIR/data.txt'));
    const first = await run(s, ['r.yml']);
    expect(first.code, first.stderr).toBe(0);
    const st = statSync(data, { bigint: true });
    execFileSync('touch', ['-r', data, join(s.dir, 'ref')]);
    writeFileSync(data, 'bbbb\n'); // same size, same inode
    execFileSync('touch', ['-r', join(s.dir, 'ref'), data]); // mtime put back, as cp -p / rsync -t / tar x do
    const now = statSync(data, { bigint: true });
    expect([now.size, now.mtimeNs, now.ino]).toEqual([st.size, st.mtimeNs, st.ino]);
    const second = await run(s, ['r.yml']);
    assertNoStack(second.stderr);
    expect(s.executions(runIdOf(second.events))).toEqual({ a: 'done' });
    expect(readFileSync(outputOf(second.events, 'a', 'out'), 'utf8')).toBe('bbbb\n');
    await assertServedIntact(s.cache);
  });
});

describe('5 and 6. a step ends when its leader exits; failures to start fail the run', () => {
  it('a setsid child holding stdout is stopped with the step; one outside flow\'s reach is no longer read', async () => {
    const s = sandbox();
    const pids = join(s.dir, 'pids');
    // One keeps flow's environment (the launcher finds it by its mark), one starts with an empty
    // environment (nothing can find it): neither may keep the step, or flow, running.
    // The step waits until both have left its group (each touches a file once out of it).
    const up = join(s.dir, 'up');
    const daemon = (env: string, n: number) => `${env}setsid sh -c 'touch ${up}${n}; exec sleep 600' & echo $! >> ${pids};`;
    const wait = `until [ -e ${up}1 ] && [ -e ${up}2 ]; do sleep 0.02; done;`;
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: ${daemon('', 1)} ${daemon('env -i ', 2)} ${wait} echo ok > o.txt\n    outputs: { o: o.txt }\n`);
    const r = await run(s, ['r.yml']);
    assertNoStack(r.stderr);
    expect(r.code).toBe(0);
    const [marked, unmarked] = readFileSync(pids, 'utf8').trim().split('\n');
    expect(existsSync(`/proc/${marked}`), 'the marked setsid child outlived its step').toBe(false);
    expect(r.events.some((e) => e.type === 'step-log' && /still holds its output/.test(e.line))).toBe(true);
    // flow is gone: the launcher killed what it had adopted.
    for (let i = 0; i < 100 && existsSync(`/proc/${unmarked}`); i++) await new Promise((res) => setTimeout(res, 20));
    expect(existsSync(`/proc/${unmarked}`), 'a step process outlived flow').toBe(false);
  }, 60_000);

  it('fd exhaustion (ulimit -n 64, --jobs 40) fails the steps that cannot start, never exit 0', async () => {
    const s = sandbox();
    const steps = Array.from({ length: 40 }, (_, i) => `  s${i}:\n    run: sleep 0.3; echo ${i} > o.txt\n    outputs: { o: o.txt }\n`);
    s.write('wide.yml', `name: t\nsteps:\n${steps.join('')}`);
    const r = await execa('bash', ['-c', `ulimit -n 64; exec "${process.execPath}" "${FLOW}" run wide.yml --jobs 40 --ui plain --cache-dir cache`], { cwd: s.dir, reject: false });
    assertNoStack(String(r.stderr));
    expect(r.exitCode, String(r.stdout).slice(-1500)).toBe(1);
    expect(String(r.stdout)).toMatch(/Too many open files|EMFILE/);
    await assertObjectsIntact(s.cache);
    await assertServedIntact(s.cache);
  });

  it.each([
    ['run:', `name: t\nsteps:\n  a:\n    run: "echo a\\0b > a.txt"\n    outputs: { out: a.txt }\n`, /^error: r\.yml:4:\d+: steps\.a\.run: a NUL byte/],
    ['env:', `name: t\nsteps:\n  a:\n    run: echo $X > a.txt\n    env: { X: "a\\0b" }\n    outputs: { out: a.txt }\n`, /^error: r\.yml:5:\d+: steps\.a\.env\.X: a NUL byte/],
    ['an output path', `name: t\nsteps:\n  a:\n    run: echo > a.txt\n    outputs: { out: "a\\0.txt" }\n`, /^error: r\.yml:5:\d+: steps\.a\.outputs\.out: a NUL byte/],
  ])('a NUL byte in %s is one line naming it, exit 2', async (_what, recipe, why) => {
    const s = sandbox();
    s.write('r.yml', recipe);
    const r = await run(s, ['r.yml']);
    assertNoStack(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(why);
  });

  it('a NUL byte in a --set value is one line, exit 2', async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nparams: { v: x }\nsteps:\n  a:\n    run: echo \${params.v} > a.txt\n    outputs: { out: a.txt }\n`);
    const r = await run(s, ['r.yml', '--set', 'v="a\\0b"']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --set v: the value holds a NUL byte/);
  });
});

describe('a FIFO inside an output folder', () => {
  it.each([
    ['in place', 'mkdir out && echo a > out/a && mkfifo out/p'],
    ['staged', 'mkdir out && echo a > out/a && mkfifo out/p && echo s > scratch'],
  ])('%s: the step fails naming the path, and so does the next run (never a "damaged" entry)', async (_how, script) => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: ${script}\n    outputs: { out: out }\n`);
    for (let i = 0; i < 2; i++) {
      const r = await run(s, ['r.yml']);
      assertNoStack(r.stderr);
      expect(r.code).toBe(1);
      const failed = r.events.find((e) => e.type === 'step-failed');
      expect(failed && failed.type === 'step-failed' ? failed.error : '').toMatch(/out\/p is a FIFO \(named pipe\)/);
      expect(r.events.some((e) => e.type === 'step-cached')).toBe(false);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/damaged/);
    }
    await assertObjectsIntact(s.cache);
    await assertServedIntact(s.cache);
  });
});
