// Bundles the command line (src/cli/main.ts and the modules it imports, lazily
// or not) into dist/bundle/ with esbuild, beside tsc's dist/: a start-up of
// flow then reads a few files instead of ~130 and skips Node's CommonJS scan of
// yaml's 74 files. Code splitting keeps the lazy imports lazy: `flow plan`
// never loads the TUI. It earns its place: a warm `flow plan recipes/quickstart.yml`
// took 191 ms of CPU bundled against 242 ms from tsc's output, a warm no-op
// `flow run` (3 cached shell steps) 186 against 235; a second set, 204 against 256
// and 198 against 249 (medians of 11 interleaved runs each, Node 20, 2 loaded
// cores). A V8 code cache for the bundle's third-party code (a vendor.cjs split
// off and compiled by hand through vm.Script), measured in the same runs, saved 2
// and 18 ms in the first set and cost 38 and 57 in the second: no difference
// beyond the noise, so it was removed.
//
// yaml, js-yaml, commander and tinyglobby, the pure-JS code on the start-up path
// of every command, are inlined.
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

/**
 * commander requires node:child_process when it loads, for subcommands run as executables, which
 * flow has none of; that module brings net, dgram and streams with it. It gets a stand-in that
 * requires the module on first use.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (a) =>
      a.importer.includes(`${join('node_modules', 'commander')}`) ? { path: a.path, namespace: 'lazy' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      loader: 'js',
      contents: "let m;\nmodule.exports = new Proxy({}, { get: (_, k) => (m ??= require('node:child_process'))[k] });\n",
    }));
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
  // Inlined CommonJS (commander, js-yaml, the stand-in above) calls require().
  banner: { js: "import { createRequire as __flowRequire } from 'node:module'; const require = __flowRequire(import.meta.url);" },
  logLevel: 'warning',
  plugins: [yamlAsEsm, lazyChildProcess],
});
