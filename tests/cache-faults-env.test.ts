// Fault suite, issue 27 cases 5 and 9-13: errors of the environment (closed pipes, a full disk,
// permissions, a busy database, deep graphs) are one line with what to do and a documented exit
// code, never a stack trace.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FLOW, ROOT, runIdOf, sandbox, type Sandbox } from './helpers/cli.js';
import { assertNoStack, assertObjectsIntact, assertServedIntact } from './helpers/cache-invariants.js';

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

/** A flow command through bash (pipes, redirections, ulimit, another user). */
async function sh(s: Sandbox, command: string) {
  const r = await execa('bash', ['-c', command], { cwd: s.dir, reject: false, env: { NO_COLOR: '1', FLOW: `"${process.execPath}" "${FLOW}"` } });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const WIDE = `name: t\nsteps:\n${Array.from({ length: 30 }, (_, i) => `  s${i}:\n    run: echo ${i} > o.txt\n    outputs: { o: o.txt }\n`).join('')}`;

describe('9. a closed or full stdout', () => {
  it('flow plan | head -1 and flow run | head -1 end normally; the run is not killed', async () => {
    const s = sandbox();
    s.write('r.yml', WIDE);
    const plan = await sh(s, `eval "$FLOW plan r.yml --cache-dir cache" | head -1; exit \${PIPESTATUS[0]}`);
    assertNoStack(plan.stderr);
    expect(plan.code).toBe(0);
    const run = await sh(s, `eval "$FLOW run r.yml --ui plain --jobs 2 --cache-dir cache" | head -1; exit \${PIPESTATUS[0]}`);
    assertNoStack(run.stderr);
    expect(run.code, run.stderr).toBe(0);
    const again = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(again.events.filter((e) => e.type === 'step-cached')).toHaveLength(30); // every step ran and was committed
    await assertServedIntact(s.cache);
  });

  it('> /dev/full is one line on stderr and exit 1', async () => {
    const s = sandbox();
    s.write('r.yml', WIDE);
    const r = await sh(s, `eval "$FLOW plan r.yml --cache-dir cache" > /dev/full`);
    assertNoStack(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^error: cannot write the output \(ENOSPC\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

const root = process.getuid?.() === 0;

describe.runIf(root)('10. a full disk (a real 20 MB tmpfs as the cache)', () => {
  it('a step that fills it fails in one line and the run goes on; status, runs and gc still work', async () => {
    const s = sandbox();
    const mnt = join(s.dir, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt]);
    onTestFinished(() => void execFileSync('umount', ['-l', mnt]));
    const cache = join(mnt, 'cache');
    s.write('big.yml', `name: t\nsteps:\n  a:\n    run: head -c 6000000 /dev/urandom > a.bin\n    outputs: { out: a.bin }\n  b:\n    run: head -c 30000000 /dev/urandom > b.bin\n    outputs: { out: b.bin }\n    needs: [a]\n  c:\n    run: echo c > c.txt\n    outputs: { out: c.txt }\n  d:\n    run: echo d > d.txt\n    outputs: { out: d.txt }\n    needs: [b]\n`);
    const flow = (args: string) => sh(s, `eval "$FLOW ${args} --cache-dir '${cache}'"`);
    const r = await flow('run big.yml --ui plain --jobs 1');
    assertNoStack(r.stderr);
    expect(r.code).toBe(1);
    // b fails, as any step that fails; c, which does not need it, still runs; d, which does, is skipped.
    expect(r.stdout).toMatch(/^✗ b\s+failed: .*no space left on the device: its partial outputs were removed to make room/m);
    expect(r.stdout).toMatch(/^✓ c\s+done/m);
    expect(r.stdout).toMatch(/^- d\s+skipped/m);
    expect(r.stdout).toMatch(/^run failed in .*: 2 ran, 0 cached, 1 failed, 1 skipped$/m);
    expect(r.stderr).toBe('');
    // A killed run's scratch (what gc can free), then whatever room is left, taken.
    mkdirSync(join(cache, 'work', 'killed-exec'), { recursive: true });
    await sh(s, `head -c 4000000 /dev/urandom > '${join(cache, 'work', 'killed-exec', 'part.bin')}'`);
    writeFileSync(join(mnt, 'filler'), '');
    await sh(s, `head -c 100000000 /dev/zero >> '${join(mnt, 'filler')}'`);
    for (const cmd of ['status', 'runs']) {
      const c = await flow(cmd);
      assertNoStack(c.stderr);
      expect(c.code, `${cmd}: ${c.stderr}`).toBe(0);
    }
    const gc = await flow('gc');
    assertNoStack(gc.stderr);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/gc: kept entries/);
    expect(existsSync(join(cache, 'work', 'killed-exec'))).toBe(false);
    await assertServedIntact(cache);
    await assertObjectsIntact(cache);
  });
});

describe.runIf(root)('11 and 13. a cache this user cannot write, a database held too long', () => {
  it("another user's cache: read-only commands work on it; those that must write are one line with what to do, exit 1", async () => {
    const s = sandbox();
    s.write('r.yml', `${WIDE}  m:\n    run: |\n      echo '{"x": 1}' > metrics.json\n    outputs: { metrics: metrics.json }\n`);
    const first = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(first.code).toBe(0);
    const second = await s.flow(['run', 'r.yml', '--ui', 'json', '--force', 'm']);
    expect(second.code).toBe(0);
    try {
      execFileSync('id', ['flowtest'], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['-M', 'flowtest']);
    }
    // Read-only for everyone, and not this user's.
    execFileSync('chmod', ['-R', 'a+rX,a-w', s.cache]);
    execFileSync('chmod', ['a+rX', s.dir, join(s.dir, 'r.yml')]);
    for (let d = s.dir; d !== '/'; d = dirname(d)) execFileSync('chmod', ['a+x', d]);
    // Its own TMPDIR, as a user has (the suite points TMPDIR at a folder of its own).
    const as = (cmd: string) => sh(s, `runuser -u flowtest -- env TMPDIR=/tmp ${process.execPath} ${FLOW} ${cmd} --cache-dir cache`);
    const reads: Array<[string, RegExp]> = [
      ['plan r.yml', /^· s0\s+cached/m],
      ['status', /^RUN\s+RECIPE/m],
      ['status last', /^s0\s+cached/m],
      ['runs', /^RUN\s+RECIPE/m],
      ['log last m', /^$/],
      ['verify', /^verify: \d+ objects.* 0 damaged/],
      [`metrics diff ${runIdOf(first.events)} ${runIdOf(second.events)}`, /\S/],
      ['attach last --ui plain', /m\s+done/],
    ];
    for (const [cmd, shows] of reads) {
      const r = await as(cmd);
      assertNoStack(r.stderr);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
      expect(r.stdout, cmd).toMatch(shows);
      expect(r.stderr.trim(), cmd).toMatch(/^note: .* is read-only for this user: showing it as it is, nothing is recorded$/);
    }
    for (const cmd of ['run r.yml --ui plain', 'gc', 'verify --repair', 'report last']) {
      const r = await as(cmd);
      assertNoStack(r.stderr);
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toMatch(/^error: .*(another user|read-only).*--cache-dir/);
      expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    }
    execFileSync('chmod', ['-R', 'u+w', s.cache]);
    await assertServedIntact(s.cache);
  });

  it('a write lock held over 10 s by another process: one line, exit 1', { timeout: 60_000 }, async () => {
    const s = sandbox();
    s.write('r.yml', WIDE);
    expect((await s.flow(['run', 'r.yml', '--ui', 'json', '--only', 's0'])).code).toBe(0);
    const holder = execa(process.execPath, ['-e', `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(join(s.cache, 'flow.db'))}); db.exec('BEGIN IMMEDIATE'); console.log('held'); setTimeout(() => {}, 25000);`], { cwd: ROOT, reject: false });
    await new Promise<void>((res) => holder.stdout!.once('data', () => res()));
    const r = await s.flow(['run', 'r.yml', '--ui', 'plain']);
    holder.kill('SIGKILL');
    assertNoStack(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^error: the cache database is locked by another process/);
  });
});
