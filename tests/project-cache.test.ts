// The default cache belongs to the project: .flow/cache beside the nearest
// folder holding a .git above the recipe (else the recipe's folder), found from
// the current directory by the commands that take no recipe. FLOW_CACHE and
// --cache-dir still win, and the commands that read history never create one.

import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FLOW } from './helpers/cli.js';

const RECIPE = 'name: p\nsteps:\n  a:\n    run: echo hi > a.txt\n    outputs: { a: a.txt }\n';

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flow-project-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** flow with no cache named anywhere: FLOW_CACHE emptied, no --cache-dir. */
async function flow(cwd: string, args: string[], env: Record<string, string> = {}) {
  const r = await execa(process.execPath, [FLOW, ...args], { cwd, reject: false, env: { NO_COLOR: '1', FLOW_CACHE: '', ...env } });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('the default cache is the project\'s', () => {
  it('lives in .flow/cache at the nearest .git above the recipe, and commands without a recipe find it from below', async () => {
    const project = scratch();
    mkdirSync(join(project, '.git'));
    mkdirSync(join(project, 'recipes', 'deep'), { recursive: true });
    writeFileSync(join(project, 'recipes', 'r.yml'), RECIPE);
    const elsewhere = scratch();
    const run = await flow(elsewhere, ['run', join(project, 'recipes', 'r.yml'), '--ui', 'plain']);
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(join(project, '.flow', 'cache', 'flow.db'))).toBe(true);
    expect(existsSync(join(elsewhere, '.flow'))).toBe(false);
    expect(existsSync(join(project, 'recipes', '.flow'))).toBe(false);
    const runs = await flow(join(project, 'recipes', 'deep'), ['runs']);
    expect(runs.code).toBe(0);
    expect(runs.stdout.split('\n')[1]).toMatch(/^\S+\s+p\s+done/);
  });

  it("without a .git, lives beside the recipe; FLOW_CACHE and --cache-dir win", async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'r.yml'), RECIPE);
    expect((await flow(dir, ['run', 'r.yml', '--ui', 'plain'])).code).toBe(0);
    expect(existsSync(join(dir, '.flow', 'cache', 'flow.db'))).toBe(true);
    const env = join(dir, 'env-cache');
    const flag = join(dir, 'flag-cache');
    expect((await flow(dir, ['run', 'r.yml', '--ui', 'plain'], { FLOW_CACHE: env })).code).toBe(0);
    expect(existsSync(join(env, 'flow.db'))).toBe(true);
    expect((await flow(dir, ['run', 'r.yml', '--ui', 'plain', '--cache-dir', flag], { FLOW_CACHE: env })).code).toBe(0);
    expect(existsSync(join(flag, 'flow.db'))).toBe(true);
  });
});

describe('reading commands never create a cache', () => {
  it.each([
    [['status']], [['runs']], [['log', 'last', 'a']], [['attach']], [['compare']], [['metrics', 'diff', 'a', 'b']],
    [['plot']], [['report']], [['verify']], [['gc']], [['doctor', '--rebuild']],
  ])('flow %j on a missing cache: one line, exit 2, nothing made', async (args) => {
    const dir = scratch();
    const typo = join(dir, 'cahce');
    const r = await flow(dir, [...args, '--cache-dir', typo]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(new RegExp(`^error: no flow cache at ${typo} `));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(typo)).toBe(false);
    // Nor the project's default.
    const d = await flow(dir, args);
    expect(d.code).toBe(2);
    expect(existsSync(join(dir, '.flow'))).toBe(false);
  });
});

describe('moving a cache', () => {
  it('a cache moved whole into the project keeps its results, history and logs', async () => {
    const project = scratch();
    mkdirSync(join(project, '.git'));
    writeFileSync(join(project, 'r.yml'), RECIPE.replace('echo hi > a.txt', 'echo hi > a.txt; echo logged-line'));
    const old = join(project, 'old-cache');
    expect((await flow(project, ['run', 'r.yml', '--ui', 'plain', '--cache-dir', old])).code).toBe(0);
    mkdirSync(join(project, '.flow'));
    renameSync(old, join(project, '.flow', 'cache'));
    const again = await flow(project, ['run', 'r.yml', '--ui', 'plain']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/0 ran, 1 cached/);
    expect((await flow(project, ['runs'])).stdout.trim().split('\n')).toHaveLength(3);
    // The first run's log, recorded at the old path, is read from the moved logs/.
    const runId = (await flow(project, ['runs'])).stdout.trim().split('\n')[2]!.split(/\s+/)[0]!;
    const log = await flow(project, ['log', runId, 'a']);
    expect(log.stderr).toBe('');
    expect(log.stdout).toBe('logged-line');
  });
});
