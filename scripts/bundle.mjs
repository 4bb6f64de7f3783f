// Bundles the command line (src/cli/main.ts and the modules it imports, lazily
// or not) into dist/bundle/ with esbuild, beside tsc's dist/: a start-up of
// flow then reads a few files instead of ~130 and skips Node's CommonJS scan of
// yaml's 74 files, a good share of a `flow plan` (bench/engine.ts). Code
// splitting keeps the lazy imports lazy: `flow plan` never loads the TUI.
//
// Left outside: packages with native code or large and loaded only on some
// paths (better-sqlite3, ink, react, vega, resvg, ...), imported from
// node_modules as before; and everything run by path rather than imported
// (steps/, workers, the reaper), which stays tsc's output. bin/flow.js falls
// back to tsc's output when this bundle is missing or older than it, so a
// plain `tsc` never runs stale code. Source maps keep stack traces pointing at
// the TypeScript sources.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
/** Pure-JS dependencies on the start-up path of every command, worth inlining. */
const INLINE = new Set(['yaml', 'js-yaml', 'commander', 'tinyglobby']);
const outdir = join(root, 'dist', 'bundle');

/**
 * yaml's ES module build instead of its CommonJS one, which Node's exports condition picks: the
 * same code (its warnings go to console.warn rather than process.emitWarning, and it ignores the
 * LOG_TOKENS/LOG_STREAM debugging variables), but esbuild hoists ES modules into one scope and
 * drops what flow never calls, where CommonJS keeps 74 module wrappers: 289 KB -> 225 KB, about
 * 5% off a cached `flow plan` (paired runs, twice).
 */
const yamlAsEsm = {
  name: 'yaml-as-esm',
  setup(b) {
    b.onResolve({ filter: /^yaml$/ }, () => ({ path: join(root, 'node_modules', 'yaml', 'browser', 'dist', 'index.js') }));
  },
};

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outdir,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  external: Object.keys(pkg.dependencies).filter((d) => !INLINE.has(d)),
  // Inlined CommonJS (commander) calls require() for Node's built-ins.
  banner: { js: "import { createRequire as __flowRequire } from 'node:module'; const require = __flowRequire(import.meta.url);" },
  logLevel: 'warning',
  plugins: [yamlAsEsm],
});
