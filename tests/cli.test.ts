// The command line as a user meets it: every subcommand answers --help, every
// bad argument is one `error:` line with exit 2 (no JS stack), unknown names
// get a "did you mean", a bad recipe under --ui json is a JSON event, and
// `flow --version` loads nothing but the bin.

import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const FLOW = join(ROOT, 'bin', 'flow.js');
const cache = mkdtempSync(join(tmpdir(), 'flow-cli-'));

async function flow(args: string[], nodeArgs: string[] = []) {
  const r = await execa(process.execPath, [...nodeArgs, FLOW, ...args], { reject: false, env: { FLOW_CACHE: cache, NO_COLOR: '1' } });
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

const recipe = join(cache, 'r.yml');
writeFileSync(recipe, 'name: r\nsteps:\n  train:\n    run: echo hi > a.txt\n    outputs: { a: a.txt }\n');

describe('usage errors: one line, exit 2', () => {
  it.each([
    [['run', recipe, '--gpus', 'a,b'], /^error: option '--gpus <ids>' argument 'a,b' is invalid\. bad GPU id "a"/],
    [['status', '--limit', 'abc'], /^error: option '--limit <n>' argument 'abc' is invalid/],
    [['gc', '--keep', '-1'], /^error: option '--keep <n>' argument '-1' is invalid/],
    [['run', recipe, '--ui', 'xml'], /^error: option '--ui <mode>' argument 'xml' is invalid\. Allowed choices are tui, plain, json\.$/],
    [['rn', recipe], /^error: unknown command 'rn' \(Did you mean run\?\)$/],
    [['run', recipe, '--forse', 'train'], /^error: unknown option '--forse' \(Did you mean --force\?\)$/],
    [['run', recipe, '--only', 'trian'], /^error: --only trian: no such step \(steps: train\); did you mean "train"\?$/],
    [['run', recipe, '--executor', 'nope'], /^error: --executor nope: expected one of local/],
    [['plan'], /^error: missing required argument 'recipe'$/],
  ])('flow %j', async (args, message) => {
    const r = await flow(args);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('an unknown executor in the recipe names its line', async () => {
    const bad = join(cache, 'bad-executor.yml');
    writeFileSync(bad, 'name: r\nexecutor: slurmm\nsteps:\n  a:\n    run: echo hi > a.txt\n    outputs: { a: a.txt }\n');
    const r = await flow(['run', bad, '--ui', 'plain']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*bad-executor\.yml:2:\d+: executor: unknown executor "slurmm" \(known: local, slurm\)$/);
  });

  it('compare with an unknown run points at a command that exists', async () => {
    const r = await flow(['compare', 'zzz']);
    expect(r.stderr).toBe("error: no run 'zzz' in this cache (see flow runs)");
    expect((await flow(['runs'])).code).toBe(0);
  });
});

describe('help and version', () => {
  it.each(['run', 'plan', 'validate', 'dag', 'status', 'runs', 'log', 'gc', 'compare', 'metrics', 'plot', 'report'])('flow %s --help', async (cmd) => {
    const r = await flow([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: flow ${cmd} `));
    expect((await flow([cmd, '-h'])).stdout).toBe(r.stdout);
  });

  it('flow help run is flow run --help', async () => {
    expect((await flow(['help', 'run'])).stdout).toBe((await flow(['run', '--help'])).stdout);
  });

  /** Runs flow with a resolve hook that prints `LOAD <url>` on stderr for every module loaded. */
  async function flowLogLoads(args: string[]) {
    const hook = join(cache, 'log-loads.mjs');
    writeFileSync(hook, "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\n'); return r; }\n");
    const reg = join(cache, 'register.mjs');
    writeFileSync(reg, `import { register } from 'node:module'; register(${JSON.stringify(`file://${hook}`)});\n`);
    return flow(args, ['--import', reg]);
  }

  it('--version is answered by the bin alone: no command line parser, no flow module', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await flowLogLoads([flag]);
      expect(r.stdout).toBe(`flow ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}`);
      const loaded = r.stderr.split('\n').filter((l) => l.startsWith('LOAD '));
      expect(loaded.some((l) => l.endsWith('/bin/flow.js'))).toBe(true); // the hook sees the loads
      expect(loaded.filter((l) => l.includes('/node_modules/') || l.includes('/dist/'))).toEqual([]);
    }
  });

  it('plan loads neither the executors nor execa, no renderer and no hasher (start-up is most of a plan)', async () => {
    const r = await flowLogLoads(['plan', recipe]);
    expect(r.code).toBe(0);
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('LOAD '));
    // The bundle (dist/bundle/, what `npm run build` and the test setup make) or tsc's output.
    expect(loaded.some((l) => l.includes('/dist/bundle/main.js') || l.includes('/scheduler/plan.js'))).toBe(true);
    expect(loaded.filter((l) => /\/execa\/|\/p-queue\/|\/ink\/|\/react\/|\/vega|resvg|hash-wasm|scheduler\/(run|execute)\.js|executors\//.test(l))).toEqual([]);
  });

  it('plan does not compile the recipe schema again once a plan has (ajv itself stays unloaded)', async () => {
    expect((await flow(['plan', recipe])).code).toBe(0);
    // CommonJS loads (ajv is CommonJS, required lazily) do not pass the ESM hook: log them at Module._load.
    const hook = join(cache, 'log-requires.cjs');
    writeFileSync(hook, "const M = require('node:module'); const load = M._load; M._load = function (req, parent) { process.stderr.write('REQUIRE ' + (parent && parent.filename) + ' -> ' + req + '\\n'); return load.apply(this, arguments); };\n");
    const r = await flow(['plan', recipe], ['--require', hook]);
    expect(r.code).toBe(0);
    const required = r.stderr.split('\n').filter((l) => l.startsWith('REQUIRE '));
    expect(required.some((l) => l.includes('better-sqlite3'))).toBe(true); // the hook sees CommonJS loads
    expect(required.filter((l) => /ajv\/dist\/(ajv|core)\.js|ajv\/dist\/compile\//.test(l))).toEqual([]);
  });

  it("the bundle's yaml and commander come through V8's code cache; damaged cache data is ignored and replaced", async () => {
    const dataDir = join(ROOT, 'dist', '.code-cache');
    const plan = await flow(['plan', recipe]);
    expect(plan.code).toBe(0);
    const files = readdirSync(dataDir).filter((f) => /^vendor\.cjs-plan-[0-9a-f]{16}\.v8$/.test(f));
    expect(files).toHaveLength(1);
    const path = join(dataDir, files[0]!);
    const good = readFileSync(path);
    const damaged = Buffer.from(good);
    damaged[damaged.length >> 1] ^= 0xff;
    writeFileSync(path, damaged);
    expect(await flow(['plan', recipe])).toEqual(plan);
    const again = readFileSync(path);
    expect(createHash('sha256').update(again.subarray(32)).digest().equals(again.subarray(0, 32))).toBe(true);
  });

  it('plan of a recipe without `inputs:` globs loads no globber and spawns nothing, and SQLite\'s addon is named, not searched for', async () => {
    const hook = join(cache, 'log-requires.cjs');
    writeFileSync(hook, "const M = require('node:module'); const load = M._load; M._load = function (req, parent) { process.stderr.write('REQUIRE ' + (parent && parent.filename) + ' -> ' + req + '\\n'); return load.apply(this, arguments); };\n");
    const reg = join(cache, 'register.mjs');
    writeFileSync(join(cache, 'log-loads.mjs'), "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\n'); return r; }\n");
    writeFileSync(reg, `import { register } from 'node:module'; register(${JSON.stringify(`file://${join(cache, 'log-loads.mjs')}`)});\n`);
    const r = await flow(['plan', recipe], ['--require', hook, '--import', reg]);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines.some((l) => l.startsWith('REQUIRE ') && l.includes('better_sqlite3.node'))).toBe(true); // the hook sees the addon load
    // fdir requires picomatch when it loads; `bindings` is better-sqlite3's addon finder; nothing spawns
    // (node:child_process brings net, dgram and streams).
    expect(lines.filter((l) => /^(REQUIRE|LOAD) .*(tinyglobby|fdir|picomatch|bindings|proc\/process-group\.js|child_process)/.test(l))).toEqual([]);
  });
});

it('--ui json prints a bad recipe as a JSON error event', async () => {
  const bad = join(cache, 'bad.yml');
  writeFileSync(bad, 'name: r\nsteps:\n  a:\n    run: echo ${params.nope}\n');
  const r = await flow(['run', bad, '--ui', 'json']);
  expect(r.code).toBe(2);
  const event = JSON.parse(r.stdout);
  expect(event).toMatchObject({ type: 'error', kind: 'validation', line: 4, field: 'steps.a.run' });
  expect(event.message).toMatch(/unknown param "nope"/);
  expect(r.stderr).toMatch(/^error: .*bad\.yml:4:\d+: steps\.a\.run: unknown param "nope"$/);
});
