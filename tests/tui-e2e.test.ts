// End-to-end: the real CLI with the TUI in a real terminal. tmux runs
// `flow run` on a small shell recipe; send-keys drives selection, the full-log
// view, a single-step re-run and quit; capture-pane shows what a user would see.
// Needs tmux (apt-get install -y tmux) and a built CLI (npm run build).

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const socket = `flow-tui-e2e-${process.pid}`;
const flow = `node ${join(root, 'bin/flow.js')}`;
let session = 'flow';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
}

/** The visible screen plus the scrollback (-S -): what the user can read after flow exits. */
function screen(): string {
  return tmux('capture-pane', '-p', '-t', session, '-S', '-');
}

/** Polls the screen until it matches; the timeout only bounds a hang, it asserts nothing about speed. */
async function waitForScreen(pattern: RegExp, what: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    last = screen();
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`screen never showed ${what} (${pattern}); last screen:\n${last}`);
}

function keys(...k: string[]): void {
  tmux('send-keys', '-t', session, ...k);
}

function requirements(): void {
  expect(existsSync(join(root, 'dist/src/cli/main.js')), 'build the CLI first: npm run build').toBe(true);
  try {
    execFileSync('tmux', ['-V']);
  } catch {
    throw new Error('tmux is required for this test: apt-get install -y tmux');
  }
}

/** A new tmux session running `command` in a fresh folder holding the fixture recipe(s). */
function start(name: string, fixture: string, command: (dir: string) => string, width = 120): string {
  requirements();
  const dir = mkdtempSync(join(tmpdir(), 'flow-tui-e2e-'));
  copyFileSync(join(root, 'tests/fixtures', fixture), join(dir, 'recipe.yml'));
  session = name;
  tmux('new-session', '-d', '-s', session, '-x', String(width), '-y', '30', `cd ${dir}; ${command(dir)}; echo FLOW-EXIT=$?; sleep 600`);
  return dir;
}

function row(s: string, step: string): string {
  return s.split('\n').find((l) => new RegExp(`^[▸ ] \\S ${step.replace(/[[\]]/g, '\\$&')} `).test(l)) ?? '';
}

afterAll(() => {
  try {
    tmux('kill-server');
  } catch {
    // Already gone.
  }
});

test('flow run --stay in tmux: select, read a log, re-run one step, quit', async () => {
  start('browse', 'tui/recipe.yml', () => `${flow} run recipe.yml --ui tui --stay --cache-dir cache`);

  // First run: everything executes; the summary waits for r or q.
  let s = await waitForScreen(/Run finished/, 'the end of the first run');
  expect(s).toMatch(/flow tui-e2e\s+done/);
  for (const step of ['make', 'count', 'report']) expect(row(s, step)).toMatch(/done\s+\S+\s+miss/);
  expect(s).toContain('Run done in');
  expect(s).toContain('3 ran · 0 cached');

  // Selection: g jumps to the first step, its log tails in the pane.
  keys('g');
  s = await waitForScreen(/── log: make /, 'the log pane of make');
  expect(row(s, 'make').startsWith('▸')).toBe(true);
  expect(row(s, 'report').startsWith('▸')).toBe(false);
  expect(s).toContain('make line 5');
  keys('j');
  s = await waitForScreen(/── log: count /, 'the log pane of count');
  expect(row(s, 'count').startsWith('▸')).toBe(true);
  keys('k');
  await waitForScreen(/── log: make /, 'make selected again');

  // Full log view of make, read from its log file, and back.
  keys('Enter');
  s = await waitForScreen(/make · full log · lines 1-5 of 5/, 'the full log of make');
  for (let i = 1; i <= 5; i++) expect(s).toContain(`make line ${i}`);
  expect(s).not.toContain('STATUS');
  keys('Escape');
  s = await waitForScreen(/STATUS/, 'the step table again');

  // Re-run count alone: make comes from the cache, count runs again.
  keys('j');
  await waitForScreen(/── log: count /, 'count selected');
  keys('r');
  // make only shows as cached in the re-run; "Run finished" then marks its end.
  await waitForScreen(/make\s+cached\s+hit/, 'make cached in the re-run');
  await waitForScreen(/Run finished/, 'the end of the re-run');
  s = screen();
  expect(row(s, 'make')).toMatch(/cached\s+hit/);
  expect(row(s, 'count')).toMatch(/done\s+\S+\s+miss/);
  expect(row(s, 'count').startsWith('▸')).toBe(true);
  expect(s).toMatch(/Run done in .* · [1-9] cached/);

  // q after the run quits at once and the CLI exits cleanly.
  keys('q');
  s = await waitForScreen(/FLOW-EXIT=\d+/, 'flow to exit');
  expect(s).toContain('FLOW-EXIT=0');
});

test('the TUI exits when the run ends and its final frame stays on screen', async () => {
  start('exits', 'tui/recipe.yml', () => `${flow} run recipe.yml --ui tui --cache-dir cache`);
  const s = await waitForScreen(/FLOW-EXIT=\d+/, 'flow to exit by itself');
  expect(s).toContain('FLOW-EXIT=0');
  // The last frame is left in the terminal: every row, the summary; no key help.
  for (const step of ['make', 'count', 'report']) expect(row(s, step)).toMatch(/done\s+\S+\s+miss/);
  expect(s).toContain('Run done in');
  expect(s).toContain('3 ran · 0 cached');
  expect(s).not.toContain('q quit');
});

test('a step failing beside a running sibling ends selected, with its error and log path on screen', async () => {
  start('fails', 'tui/failing.yml', () => `${flow} run recipe.yml --ui tui --cache-dir cache`);
  const s = await waitForScreen(/FLOW-EXIT=\d+/, 'flow to exit');
  expect(s).toContain('FLOW-EXIT=1');
  expect(row(s, 'prep').startsWith('▸')).toBe(true);
  expect(row(s, 'slow').startsWith('▸')).toBe(false);
  expect(row(s, 'slow')).toMatch(/done/);
  expect(row(s, 'prep')).toContain('exit 3 · ValueError: column qid missing');
  expect(s).toContain('✖ prep: exit 3');
  expect(s).toMatch(/Traceback \(most recent call last\):\n\s+ValueError: column qid missing/);
  expect(s).toMatch(/log: \S+\.log/);
  expect(s).toMatch(/1 ran · 0 cached · 1 failed/);
});

test('a sweep at 120 columns resized to 80: variants stay distinct and the EX/EM table keeps `all`', async () => {
  start('narrow', 'experiments/sweep.yml', () => `${flow} run recipe.yml --ui tui --stay --cache-dir cache`, 120);
  await waitForScreen(/Run finished/, 'the end of the sweep');
  tmux('resize-window', '-t', session, '-x', '80', '-y', '40');
  const s = await waitForScreen(/^metrics.*all\s*$/m, 'the metrics table at 80 columns');
  const visible = tmux('capture-pane', '-p', '-t', session);
  expect(visible.split('\n').every((l) => l.length <= 80)).toBe(true);
  const trains = visible.split('\n').filter((l) => /^[▸ ] \S train/.test(l)).map((l) => l.slice(4).split(/\s{2,}/)[0]);
  expect(trains).toHaveLength(3);
  expect(new Set(trains).size).toBe(3);
  expect(s).toMatch(/^\s+EX\s+.*0\.\d{3}\s*$/m);
  keys('q');
  await waitForScreen(/FLOW-EXIT=0/, 'flow to exit');
});

test('flow attach follows a run started in another process to its end', async () => {
  const dir = start('attach', 'tui/follow.yml', (d) => `${flow} run recipe.yml --ui plain --cache-dir cache > run.log 2>&1`);
  // A second window attaches once the run is recorded; it never ran anything itself.
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(dir, 'run.log')) || !/slow\s+running/.test(readFileSync(join(dir, 'run.log'), 'utf8'))) {
    if (Date.now() > deadline) throw new Error('the run never started');
    await new Promise((r) => setTimeout(r, 100));
  }
  tmux('new-window', '-t', session, `cd ${dir}; ${flow} attach --cache-dir cache; echo ATTACH-EXIT=$?; sleep 600`);
  let s = await waitForScreen(/slow\s+running/, 'the attached TUI showing the running step');
  expect(s).toMatch(/flow tui-follow\s+running/);
  expect(row(s, 'after')).toMatch(/pending|queued/);
  s = await waitForScreen(/ATTACH-EXIT=\d+/, 'attach to exit with the run');
  expect(s).toContain('ATTACH-EXIT=0');
  expect(row(s, 'slow')).toMatch(/done\s+\S+\s+miss/);
  expect(row(s, 'after')).toMatch(/done/);
  expect(s).toContain('Run done in');
  expect(readFileSync(join(dir, 'run.log'), 'utf8')).toMatch(/run done in/);
});
