// Fault injection against the cache: real flow processes, real files, real
// SQLite. Every case checks the cache's promises afterwards (helpers/cache-invariants.ts).

import {
  appendFileSync,
  chmodSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { FLOW, runIdOf, sandbox, type Sandbox } from './helpers/cli.js';
import { assertServedIntact, sentinel } from './helpers/cache-invariants.js';

function entryKeys(cache: string): string[] {
  return existsSync(join(cache, 'steps')) ? readdirSync(join(cache, 'steps')) : [];
}

async function run(s: Sandbox, args: string[], env?: Record<string, string>) {
  return s.flow(['run', ...args, '--ui', 'json'], { env });
}

function failure(events: Awaited<ReturnType<Sandbox['flow']>>['events'], step: string): string | undefined {
  const e = events.find((x) => x.type === 'step-failed' && x.step === step);
  return e && e.type === 'step-failed' ? e.error : undefined;
}

describe('outputs are confined to the work dir', () => {
  it('a symlink to a folder outside is refused, and the folder keeps its files', async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: mkdir res && echo x > res/own && ln -s ${out.dir} res/escape\n    outputs: { res: res }\n`);
    const r = await run(s, ['r.yml']);
    expect(r.code).toBe(1);
    expect(failure(r.events, 'a')).toMatch(/res\/escape is a symlink to .*outside the output/);
    expect(out.digest()).toBe(before);
    expect(existsSync(join(out.dir, 'a.txt'))).toBe(true);
    expect(entryKeys(s.cache)).toEqual([]);
    await assertServedIntact(s.cache);
  });

  it('a symlink inside the output is stored as a symlink and served again', async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: mkdir -p res/d && echo x > res/d/f && ln -s d/f res/alias\n    outputs: { res: res }\n  b:\n    run: cat \${steps.a.outputs.res}/alias > b.txt\n    outputs: { out: b.txt }\n`);
    const first = await run(s, ['r.yml']);
    expect(first.code).toBe(0);
    const done = first.events.find((e) => e.type === 'step-done' && e.step === 'a');
    const res = done && done.type === 'step-done' ? done.outputs.res! : '';
    expect(readlinkSync(join(res, 'alias'))).toBe('d/f');
    const second = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(second.events))).toEqual({ a: 'cached', b: 'cached' });
    expect(await assertServedIntact(s.cache)).toBe(3);
  });

  it('a file hardlinked to one outside is copied in: the outside file keeps its mode and links', async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: mkdir res && ln ${join(out.dir, 'a.txt')} res/a.txt\n    outputs: { res: res }\n`);
    expect((await run(s, ['r.yml'])).code).toBe(0);
    expect(out.digest()).toBe(before);
    expect(statSync(join(out.dir, 'a.txt')).mode & 0o777).toBe(0o644);
    expect(await assertServedIntact(s.cache)).toBe(1);
  });

  it('an output path with .. or an absolute path is refused at validation with file:line:col, exit 2', async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    s.write('up.yml', `name: t\nsteps:\n  a:\n    run: echo hi > x\n    outputs:\n      x: ../../outside/a.txt\n`);
    const r1 = await s.flow(['run', 'up.yml']);
    expect(r1.code).toBe(2);
    expect(r1.stderr.trim()).toMatch(/^error: up\.yml:6:\d+: steps\.a\.outputs\.x: output path "\.\.\/\.\.\/outside\/a\.txt" must be relative/);
    expect(r1.stderr.trim().split('\n')).toHaveLength(1);
    s.write('abs.yml', `name: t\nsteps:\n  a:\n    run: echo hi\n    outputs: { x: ${join(out.dir, 'a.txt')} }\n`);
    const r2 = await s.flow(['run', 'abs.yml']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/abs\.yml:5:\d+: steps\.a\.outputs\.x/);
    expect(out.digest()).toBe(before);
  });
});

describe('damage is detected on every hit', () => {
  const RECIPE = `name: t\nsteps:\n  a:\n    run: mkdir res && echo one > res/one && echo two > res/two\n    outputs: { res: res }\n  b:\n    run: cat \${steps.a.outputs.res}/one \${steps.a.outputs.res}/two > b.txt\n    outputs: { out: b.txt }\n`;

  it('an object edited in place is not served: plan says so, run re-runs, dedup never links the bad bytes again', async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    s.write('r.yml', RECIPE);
    const first = await run(s, ['r.yml']);
    expect(first.code).toBe(0);
    const [key] = entryKeys(s.cache).filter((k) => existsSync(join(s.cache, 'steps', k, 'res')));
    const victim = join(s.cache, 'steps', key!, 'res', 'one');
    chmodSync(victim, 0o644); // root ignores the read-only bit anyway
    appendFileSync(victim, 'tampered\n');
    const plan = await s.flow(['plan', 'r.yml']);
    expect(plan.stdout).toMatch(/a\s+will run: cached result damaged: res\/one changed after commit/);
    const second = await run(s, ['r.yml']);
    expect(second.code).toBe(0);
    expect(s.executions(runIdOf(second.events))).toEqual({ a: 'done', b: 'cached' });
    expect(readFileSync(victim, 'utf8')).toBe('one\n');
    expect(readdirSync(join(s.cache, 'quarantine'))).toHaveLength(1);
    expect(await assertServedIntact(s.cache)).toBe(3);
    expect(out.digest()).toBe(before);
  });

  it('a file deleted from an entry, or one added to it, invalidates the entry', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    expect((await run(s, ['r.yml'])).code).toBe(0);
    const [key] = entryKeys(s.cache).filter((k) => existsSync(join(s.cache, 'steps', k, 'res')));
    unlinkSync(join(s.cache, 'steps', key!, 'res', 'two'));
    const again = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(again.events))).toEqual({ a: 'done', b: 'cached' });
    writeFileSync(join(s.cache, 'steps', key!, 'res', 'extra'), 'x');
    const third = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(third.events)).a).toBe('done');
    expect(await assertServedIntact(s.cache)).toBe(3);
  });

  it('a step that appends to its input fails, and the damaged upstream result is not served again', async () => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: echo clean > a.txt\n    outputs: { out: a.txt }\n  b:\n    run: echo dirty >> \${steps.a.outputs.out} && cp \${steps.a.outputs.out} b.txt\n    outputs: { out: b.txt }\n`);
    const r = await run(s, ['r.yml']);
    expect(r.code).toBe(1);
    expect(failure(r.events, 'b')).toMatch(/modified its input in place \(a\): out|a\.txt changed after commit/);
    const again = await run(s, ['r.yml', '--until', 'a']);
    expect(s.executions(runIdOf(again.events))).toEqual({ a: 'done' });
    expect(await assertServedIntact(s.cache)).toBe(1);
    expect(out.digest()).toBe(before);
  });

  it('flow verify re-hashes every object and --repair removes what is damaged', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    expect((await run(s, ['r.yml'])).code).toBe(0);
    const ok = await s.flow(['verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/verify: 3 objects, .* 0 damaged/);
    const obj = readdirSync(join(s.cache, 'objects')).flatMap((d) => readdirSync(join(s.cache, 'objects', d)).map((n) => join(s.cache, 'objects', d, n)));
    // Same size, same mtime: only a re-hash can see this.
    const victim = obj[0]!;
    const st = statSync(victim);
    writeFileSync(victim, readFileSync(victim).map((b) => b ^ 1));
    const { utimesSync } = await import('node:fs');
    utimesSync(victim, st.atime, st.mtime);
    const bad = await s.flow(['verify']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/1 damaged, 1 entry affected/);
    expect((await s.flow(['verify', '--repair'])).code).toBe(0);
    expect((await s.flow(['verify'])).stdout).toMatch(/0 damaged/);
    await assertServedIntact(s.cache);
  });
});

describe('--force replaces the committed result', () => {
  it('a forced non-deterministic step is what the next plain run, latest/ and dependents see', async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: head -c 16 /dev/urandom | od -An -tx1 > a.txt\n    outputs: { out: a.txt }\n  b:\n    run: cp \${steps.a.outputs.out} b.txt\n    outputs: { out: b.txt }\n`);
    expect((await run(s, ['r.yml'])).code).toBe(0);
    const forced = await run(s, ['r.yml', '--force', 'a']);
    expect(forced.code).toBe(0);
    const aDone = forced.events.find((e) => e.type === 'step-done' && e.step === 'a');
    const forcedBytes = readFileSync(aDone && aDone.type === 'step-done' ? aDone.outputs.out! : '', 'utf8');
    const plain = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(plain.events))).toEqual({ a: 'cached', b: 'cached' });
    const bCached = plain.events.find((e) => e.type === 'step-cached' && e.step === 'b');
    expect(readFileSync(bCached && bCached.type === 'step-cached' ? bCached.outputs.out! : '', 'utf8')).toBe(forcedBytes);
    expect(readFileSync(join(s.cache, 'latest', 't', 'a', 'a.txt'), 'utf8')).toBe(forcedBytes);
    expect(readlinkSync(join(s.cache, 'latest', 't', 'a'))).not.toMatch(/^\//);
    await assertServedIntact(s.cache);
  });
});

describe("the store's own folders", () => {
  it('removed while a run is going (logs/ and tmp/ are made once per process): later steps still log and commit', async () => {
    const s = sandbox();
    // a removes logs/ (b's log must still open), b removes tmp/ (b's commit must still stage and
    // land: its scratch file keeps it from being committed in place).
    const a = 'rm -rf "$FLOW_CACHE_DIR/logs"; echo a > a.txt';
    const b = 'rm -rf "$FLOW_CACHE_DIR/tmp"; echo said b; cat $A > b.txt; echo scratch > notes';
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: '${a}'\n    outputs: { out: a.txt }\n  b:\n    run: '${b}'\n    env:\n      A: \${steps.a.outputs.out}\n    outputs: { out: b.txt }\n  c:\n    run: echo c > c.txt\n    outputs: { out: c.txt }\n    needs: [b]\n`);
    const r = await run(s, ['r.yml']);
    expect(r.code, r.stderr).toBe(0);
    expect(s.executions(runIdOf(r.events))).toEqual({ a: 'done', b: 'done', c: 'done' });
    const bDone = r.events.find((e) => e.type === 'step-done' && e.step === 'b');
    expect(readFileSync(bDone && bDone.type === 'step-done' ? bDone.outputs.out! : '', 'utf8')).toBe('a\n');
    const bStart = r.events.find((e) => e.type === 'step-start' && e.step === 'b');
    expect(readFileSync(bStart && bStart.type === 'step-start' ? bStart.logPath : '', 'utf8')).toBe('said b\n');
    const again = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(again.events))).toEqual({ a: 'cached', b: 'cached', c: 'cached' });
    await assertServedIntact(s.cache);
  });
});

describe('commit in place', () => {
  // The entry folder's inode tells where it was built: the work dir itself, or a staging folder.
  const recipe = `name: t\nsteps:\n  only:\n    run: mkdir res && stat -c %i . > res/ino && echo one > one.txt\n    outputs: { res: res, one: one.txt }\n  scratch:\n    run: stat -c %i . > ino && echo notes > notes.txt\n    outputs: { ino: ino }\n`;

  it('a work dir holding only its outputs becomes the entry; one with scratch is staged and its scratch removed', async () => {
    const s = sandbox();
    s.write('r.yml', recipe);
    const r = await run(s, ['r.yml']);
    expect(r.code, r.stderr).toBe(0);
    const out = (step: string) => {
      const e = r.events.find((x) => x.type === 'step-done' && x.step === step);
      return e && e.type === 'step-done' ? e.outputs : {};
    };
    const entryIno = (o: string) => String(statSync(join(o, '..')).ino);
    expect(readFileSync(join(out('only').res!, 'ino'), 'utf8').trim()).toBe(entryIno(out('only').res!));
    expect(readFileSync(out('scratch').ino!, 'utf8').trim()).not.toBe(entryIno(out('scratch').ino!));
    expect(readdirSync(join(out('scratch').ino!, '..')).sort()).toEqual(['.flow-entry.json', 'ino']);
    // Neither leaves anything in work/ or tmp/: the one became the entry, the other's scratch went.
    expect(readdirSync(join(s.cache, 'work'))).toEqual([]);
    expect(readdirSync(join(s.cache, 'tmp'))).toEqual([]);
    const again = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(again.events))).toEqual({ only: 'cached', scratch: 'cached' });
    expect(await assertServedIntact(s.cache)).toBe(3);
  });
});

describe('latest/', () => {
  it('links each step with outputs to its newest result, leaves a link that is already right alone, and none for a step without outputs', async () => {
    const s = sandbox();
    const recipe = (word: string) => `name: t\nparams: { w: ${word} }\nsteps:\n  a:\n    run: echo \${params.w} > a.txt\n    outputs: { out: a.txt }\n  b:\n    run: echo same > b.txt\n    outputs: { out: b.txt }\n  quiet:\n    run: 'true'\n`;
    s.write('r.yml', recipe('one'));
    expect((await run(s, ['r.yml'])).code).toBe(0);
    const latest = join(s.cache, 'latest', 't');
    expect(readFileSync(join(latest, 'a', 'a.txt'), 'utf8')).toBe('one\n');
    expect(readdirSync(latest).sort()).toEqual(['a', 'b']);
    const [a1, b1] = ['a', 'b'].map((n) => lstatSync(join(latest, n)).ino);
    s.write('r.yml', recipe('two'));
    const again = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(again.events))).toEqual({ a: 'done', b: 'cached', quiet: 'cached' });
    expect(readFileSync(join(latest, 'a', 'a.txt'), 'utf8')).toBe('two\n');
    expect(readlinkSync(join(latest, 'a'))).not.toMatch(/^\//);
    expect(lstatSync(join(latest, 'a')).ino).not.toBe(a1);
    expect(lstatSync(join(latest, 'b')).ino).toBe(b1); // b's result did not move: its link was not rewritten
    expect(readdirSync(latest).sort()).toEqual(['a', 'b']); // no temporary names left behind
  });

  it('a matrix value holding `/` (or `%`) is one link name, percent-encoded, pointing at that variant', async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nparams: { v: x }\nmatrix:\n  v: [/models/qwen, a%2Fb]\nsteps:\n  a:\n    run: echo \${params.v} > a.txt\n    outputs: { out: a.txt }\n`);
    const r = await run(s, ['r.yml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const latest = join(s.cache, 'latest', 't');
    expect(readdirSync(latest).sort()).toEqual(['a[v=%2Fmodels%2Fqwen]', 'a[v=a%252Fb]']);
    expect(readFileSync(join(latest, 'a[v=%2Fmodels%2Fqwen]', 'a.txt'), 'utf8')).toBe('/models/qwen\n');
    expect(readFileSync(join(latest, 'a[v=a%252Fb]', 'a.txt'), 'utf8')).toBe('a%2Fb\n');
  });
});

describe('the database is an index that can be lost', () => {
  const RECIPE = `name: t\nsteps:\n  a:\n    run: mkdir res && echo one > res/one && echo \${params.n} > res/n\n    outputs: { res: res }\nparams: { n: 1 }\n`;
  for (const [what, damage] of [
    ['deleted', (f: string) => rmSync(f)],
    ['truncated to zero', (f: string) => truncateSync(f, 0)],
    ['truncated to half', (f: string) => truncateSync(f, Math.floor(statSync(f).size / 2))],
    ['overwritten with garbage', (f: string) => writeFileSync(f, Buffer.alloc(8192, 0x5a))],
    ['without its WAL', (f: string) => rmSync(`${f}-wal`, { force: true })],
  ] as const) {
    it(`flow.db ${what}: the next run recovers in one line and serves only verified results`, async () => {
      const s = sandbox();
      s.write('r.yml', RECIPE);
      expect((await run(s, ['r.yml'])).code).toBe(0);
      damage(join(s.cache, 'flow.db'));
      const again = await run(s, ['r.yml']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
      expect(s.executions(runIdOf(again.events))).toEqual({ a: 'cached' });
      expect(await assertServedIntact(s.cache)).toBe(2);
    });
  }

  it('a rebuilt index never records a digest that does not match the bytes', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    expect((await run(s, ['r.yml'])).code).toBe(0);
    const [key] = entryKeys(s.cache);
    rmSync(join(s.cache, 'flow.db'));
    rmSync(join(s.cache, 'flow.db-wal'), { force: true });
    const f = join(s.cache, 'steps', key!, 'res', 'one');
    chmodSync(f, 0o644);
    writeFileSync(f, 'changed while the index was gone\n');
    const doctor = await s.flow(['doctor', '--rebuild']);
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toMatch(/0 entries verified, 1 damaged and removed/);
    const again = await run(s, ['r.yml']);
    expect(s.executions(runIdOf(again.events))).toEqual({ a: 'done' });
    expect(await assertServedIntact(s.cache)).toBe(2);
  });
});

describe('a kill during commit', () => {
  const POINTS = [
    'commit:staging',
    'commit:object-chmod',
    'commit:object-moved',
    'commit:object-linked',
    'commit:ingested',
    'commit:manifest',
    'commit:renamed',
    'commit:objects-recorded',
    'commit:indexed',
    'execute:committed',
    'commit:replaced-aside',
  ];
  it.each(POINTS)('SIGKILL at %s: one gc leaves no orphan, the re-run serves intact results', async (point) => {
    const s = sandbox();
    const out = sentinel(s);
    const before = out.digest();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: mkdir res && for i in 1 2 3; do echo $i > res/f$i; done\n    outputs: { res: res }\n`);
    const force = point === 'commit:replaced-aside';
    if (force) expect((await run(s, ['r.yml'])).code).toBe(0);
    const killed = await run(s, ['r.yml', ...(force ? ['--force', 'a'] : [])], { FLOW_FAILPOINT: point });
    expect(killed.code).not.toBe(0);
    await assertServedIntact(s.cache);
    const gc = await s.flow(['gc', '--keep', '0']);
    expect(gc.code, gc.stderr).toBe(0);
    // One pass: no scratch left, and every object left is linked from an entry.
    expect(existsSync(join(s.cache, 'tmp')) ? readdirSync(join(s.cache, 'tmp')) : []).toEqual([]);
    for (const shard of existsSync(join(s.cache, 'objects')) ? readdirSync(join(s.cache, 'objects')) : []) {
      for (const name of readdirSync(join(s.cache, 'objects', shard))) expect(statSync(join(s.cache, 'objects', shard, name)).nlink).toBeGreaterThan(1);
    }
    const again = await run(s, ['r.yml']);
    expect(again.code).toBe(0);
    expect(await assertServedIntact(s.cache)).toBe(3);
    expect(out.digest()).toBe(before);
  });
});

describe('concurrency', () => {
  const TRIALS = 20;

  it(`3 concurrent runs x ${TRIALS} trials: no key is executed twice`, { timeout: 600_000 }, async () => {
    const s = sandbox();
    const ledger = join(s.dir, 'executions.log');
    for (let t = 0; t < TRIALS; t++) {
      s.write('r.yml', `name: t\nsteps:\n  a:\n    run: echo "$FLOW_STEP_KEY" >> ${ledger} && echo ${t} > a.txt\n    outputs: { out: a.txt }\n  b:\n    run: echo "$FLOW_STEP_KEY" >> ${ledger} && cat \${steps.a.outputs.out} > b.txt\n    outputs: { out: b.txt }\n`);
      const codes = await Promise.all([0, 1, 2].map(() => run(s, ['r.yml']).then((r) => r.code)));
      expect(codes).toEqual([0, 0, 0]);
    }
    const keys = readFileSync(ledger, 'utf8').trim().split('\n');
    expect(keys).toHaveLength(TRIALS * 2);
    expect(new Set(keys).size).toBe(keys.length);
    await assertServedIntact(s.cache);
  });

  it(`3 concurrent first uses of a fresh cache x ${TRIALS} trials all succeed`, { timeout: 600_000 }, async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: echo a > a.txt\n    outputs: { out: a.txt }\n`);
    for (let t = 0; t < TRIALS; t++) {
      const cache = join(s.dir, `cache-${t}`);
      const results = await Promise.all(
        [0, 1, 2].map(() => s.spawn(['run', 'r.yml', '--ui', 'json', '--cache-dir', cache])),
      );
      for (const r of results) expect(r.exitCode, String(r.stderr)).toBe(0);
    }
  });
});

describe('bounded memory and prompt ends', () => {
  it('1 GB without a newline: flow stays under 200 MB RSS and the log is capped', { timeout: 600_000 }, async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: head -c 1073741824 /dev/zero | tr '\\\\0' x; echo; echo done > a.txt\n    outputs: { out: a.txt }\n`);
    const child = execa(process.execPath, [FLOW, 'run', 'r.yml', '--ui', 'plain', '--cache-dir', s.cache], {
      cwd: s.dir,
      reject: false,
      buffer: false,
      stdout: 'ignore',
      env: { NO_COLOR: '1', FLOW_LOG_MAX_BYTES: String(8 << 20) },
    });
    let peakKb = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // exited
      }
    }, 100);
    const r = await child;
    clearInterval(poll);
    expect(r.exitCode).toBe(0);
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb / 1024).toBeLessThan(200);
    const logs = readdirSync(join(s.cache, 'logs'));
    const log = readFileSync(join(s.cache, 'logs', logs[0]!), 'utf8');
    expect(log.length).toBeLessThan((8 << 20) + 4096);
    expect(log).toMatch(/\[flow: log cut at 8388608 bytes/);
  });

  it('a background child holding stdout does not keep the step running; it is stopped with a warning', async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: (sleep 60; echo late > ${join(s.dir, 'late')}) & echo done > a.txt\n    outputs: { out: a.txt }\n`);
    const t0 = Date.now();
    const r = await run(s, ['r.yml']);
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(r.events.some((e) => e.type === 'step-log' && /left background processes running/.test(e.line))).toBe(true);
    await new Promise((res) => setTimeout(res, 500));
    expect(existsSync(join(s.dir, 'late'))).toBe(false);
  });
});

describe('strict inputs', () => {
  it('${env.X} of an unset variable is an error at plan time; ${env.X:-default} is not', async () => {
    const s = sandbox();
    s.write('r.yml', `name: t\nsteps:\n  a:\n    run: echo \${env.FLOW_TEST_UNSET_VAR} > a.txt\n    outputs: { out: a.txt }\n`);
    const r = await s.flow(['plan', 'r.yml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: r\.yml:4:\d+: steps\.a\.run: environment variable FLOW_TEST_UNSET_VAR is not set/);
    s.write('d.yml', `name: t\nsteps:\n  a:\n    run: echo \${env.FLOW_TEST_UNSET_VAR:-fallback.v1} > a.txt\n    outputs: { out: a.txt }\n`);
    const d = await run(s, ['d.yml']);
    expect(d.code).toBe(0);
    const done = d.events.find((e) => e.type === 'step-done');
    expect(readFileSync(done && done.type === 'step-done' ? done.outputs.out! : '', 'utf8')).toBe('fallback.v1\n');
  });

  it.each([
    ['v=[1,', /not a complete YAML value/],
    ['v="unterminated', /not a complete YAML value/],
    ['v=*alias', /not a complete YAML value|aliases are not allowed/],
    ['v=!!binary aGk=', /anchors and tags are not allowed/],
    ['v=&a 1', /anchors and tags are not allowed/],
  ])('--set %s is refused in one line with exit 2', async (set, why) => {
    const s = sandbox();
    s.write('r.yml', `name: t\nparams: { v: 1 }\nsteps:\n  a:\n    run: echo \${params.v} > a.txt\n    outputs: { out: a.txt }\n`);
    const r = await s.flow(['plan', 'r.yml', '--set', set]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(why);
  });

  it('a YAML alias bomb is one line with exit 2', async () => {
    const s = sandbox();
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    s.write('bomb.yml', `name: t\nparams:\n${lines.map((l) => `  ${l}`).join('\n')}\nsteps:\n  a:\n    run: echo hi\n`);
    const r = await s.flow(['plan', 'bomb.yml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: bomb\.yml:1:1: .*alias/i);
  });
});
