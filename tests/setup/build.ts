// Tests that spawn the real CLI run compiled JS: build once before any test file.
// Type errors are reported but do not stop the tests (`npm test` type-checks
// strictly before vitest starts); a build that emitted nothing does.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export default function setup(): void {
  const root = resolve(import.meta.dirname, '../..');
  try {
    execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    process.stderr.write(`tsc reported errors:\n${String((e as { stdout?: Buffer }).stdout ?? '')}\n`);
    if (!existsSync(resolve(root, 'dist/src/cli/main.js'))) throw new Error('build failed: dist/src/cli/main.js missing');
  }
}
