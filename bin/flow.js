#!/usr/bin/env node
// `flow --version` is answered here, before the command line (commander) and
// the rest of flow load: it is typed to check an install and should cost no
// more than Node's own start. Everything else goes to the CLI: the esbuild
// bundle of it (scripts/bundle.mjs) when it is there and not older than tsc's
// output, else tsc's output itself.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`flow ${version}\n`);
} else {
  // Node >= 22.1 keeps V8's compiled code of every module on disk, so the next
  // start skips most of the parsing; Node 20 has no such cache and skips this
  // (the bundle keeps one for its third-party code itself: src/cli/code-cache.ts).
  module.enableCompileCache?.();
  // Source maps stay off by default: Node parses every loaded module's map at load when they
  // are on (about 30 ms here). Stack traces still name functions and the bundle's files, whose
  // comments name each source; NODE_OPTIONS=--enable-source-maps maps them to the TypeScript.
  const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
  const bundle = mtime('../dist/bundle/main.js');
  const bundled = bundle >= 0 && bundle >= mtime('../dist/src/cli/main.js');
  await import(bundled ? '../dist/bundle/main.js' : '../dist/src/cli/main.js');
}
