// Runs once around the whole test run (each vitest project calls it; the first call does the work):
// - builds the project as `npm run build` does, tsc then the CLI's esbuild bundle (tests that
//   spawn the real CLI run compiled JS), unless dist/ is newer than every build input: a re-run of
//   `npm run test:fast` after editing a test pays no build. Type errors are reported but do not
//   stop the tests (`npm test` type-checks strictly before vitest starts); a build that emitted
//   nothing does.
// - points TMPDIR at one folder for this run, removed at the end, so no test leaves
//   scratch folders behind even when it fails half-way.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
/** What `npm run build` reads; a folder's own mtime counts too, so a removed file is a change. */
const INPUTS = ['src', 'steps', 'bench', 'tsconfig.json', 'package.json', 'scripts/bundle.mjs'];
/** Written after a build that emitted both outputs; its mtime is when that build started, so a file
 *  edited while it ran is newer and makes the next run build again. */
const STAMP = join(root, 'dist', '.test-build-stamp');
const OUTPUTS = ['dist/src/cli/main.js', 'dist/bundle/main.js'];

function newest(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const name of readdirSync(path)) m = Math.max(m, newest(join(path, name)));
  return m;
}

/** Whether dist/ was built by this setup after the last change to any build input. */
export function buildIsFresh(): boolean {
  const stamp = statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs;
  if (stamp === undefined || !OUTPUTS.every((o) => existsSync(join(root, o)))) return false;
  return INPUTS.every((i) => newest(join(root, i)) < stamp);
}

function build(): void {
  if (buildIsFresh()) return;
  rmSync(STAMP, { force: true });
  const started = new Date();
  try {
    execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    process.stderr.write(`tsc reported errors:\n${String((e as { stdout?: Buffer }).stdout ?? '')}\n`);
    if (!existsSync(resolve(root, 'dist/src/cli/main.js'))) throw new Error('build failed: dist/src/cli/main.js missing');
  }
  // The CLI's bundle, as `npm run build` makes it: tests that spawn bin/flow.js run what users run.
  execFileSync(process.execPath, [resolve(root, 'scripts/bundle.mjs')], { cwd: root, stdio: 'pipe' });
  writeFileSync(STAMP, '');
  utimesSync(STAMP, started, started);
}

export default function setup(): () => void {
  // Every project of the run calls this in the same process: one build, one scratch folder.
  if (process.env.FLOW_TEST_SCRATCH) return () => {};
  build();
  const scratch = mkdtempSync(join(tmpdir(), 'flow-tests-'));
  process.env.FLOW_TEST_SCRATCH = scratch;
  process.env.TMPDIR = scratch;
  return () => {
    rmSync(scratch, { recursive: true, force: true });
    delete process.env.FLOW_TEST_SCRATCH;
  };
}
