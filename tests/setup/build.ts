// Runs once around the whole test run:
// - builds the project as `npm run build` does, tsc then the CLI's esbuild bundle (tests that
//   spawn the real CLI run compiled JS). Type errors are
//   reported but do not stop the tests (`npm test` type-checks strictly before vitest starts);
//   a build that emitted nothing does.
// - points TMPDIR at one folder for this run, removed at the end, so no test leaves
//   scratch folders behind even when it fails half-way.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export default function setup(): () => void {
  const root = resolve(import.meta.dirname, '../..');
  try {
    execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    process.stderr.write(`tsc reported errors:\n${String((e as { stdout?: Buffer }).stdout ?? '')}\n`);
    if (!existsSync(resolve(root, 'dist/src/cli/main.js'))) throw new Error('build failed: dist/src/cli/main.js missing');
  }
  // The CLI's bundle, as `npm run build` makes it: tests that spawn bin/flow.js run what users run.
  execFileSync(process.execPath, [resolve(root, 'scripts/bundle.mjs')], { cwd: root, stdio: 'pipe' });
  const scratch = mkdtempSync(join(tmpdir(), 'flow-tests-'));
  process.env.TMPDIR = scratch;
  return () => rmSync(scratch, { recursive: true, force: true });
}
