// End-to-end: the real CLI with the TUI in a real terminal. tmux runs
// `flow run` on a small shell recipe; send-keys drives selection, the full-log
// view, a single-step re-run and quit; capture-pane shows what a user would see.
// Needs tmux (apt-get install -y tmux) and a built CLI (npm run build).

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const socket = `flow-tui-e2e-${process.pid}`;
const session = 'flow';

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
}

function screen(): string {
  return tmux('capture-pane', '-p', '-t', session);
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

test('flow run --ui tui in tmux: select, read a log, re-run one step, quit', async () => {
  expect(existsSync(join(root, 'dist/src/cli/main.js')), 'build the CLI first: npm run build').toBe(true);
  try {
    execFileSync('tmux', ['-V']);
  } catch {
    throw new Error('tmux is required for this test: apt-get install -y tmux');
  }
  const dir = mkdtempSync(join(tmpdir(), 'flow-tui-e2e-'));
  copyFileSync(join(root, 'tests/fixtures/tui/recipe.yml'), join(dir, 'recipe.yml'));
  const cmd = `node ${join(root, 'bin/flow.js')} run ${join(dir, 'recipe.yml')} --ui tui --cache-dir ${join(dir, 'cache')}; echo FLOW-EXIT=$?; sleep 600`;
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '30', cmd);

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
