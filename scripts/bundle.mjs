// Bundles the command line (src/cli/main.ts and the modules it imports, lazily
// or not) into dist/bundle/ with esbuild, beside tsc's dist/: a start-up of
// flow then reads a few files instead of ~130 and skips Node's CommonJS scan of
// yaml's 74 files, a good share of a `flow plan` (bench/engine.ts). Code
// splitting keeps the lazy imports lazy: `flow plan` never loads the TUI.
//
// yaml, js-yaml, commander and better-sqlite3's JavaScript, the third-party
// code every command runs, go to a CommonJS file of their own,
// dist/bundle/vendor.cjs, which the bundle runs
// through V8's code cache (src/cli/code-cache.ts): about a third of a cached
// `flow plan` was parsing and compiling the bundle.
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
 * `import ... from 'yaml'` (and the other VENDOR packages) in the bundle read vendor.cjs's exports, run
 * through the code cache. A stand-in CommonJS module per package; esbuild turns the named
 * imports into reads of its exports.
 */
const VENDOR = { yaml: 'yaml', 'js-yaml': 'jsyaml', commander: 'commander', 'better-sqlite3': 'betterSqlite3' };
const vendorByCodeCache = {
  name: 'vendor-by-code-cache',
  setup(b) {
    b.onResolve({ filter: /^(yaml|js-yaml|commander|better-sqlite3)$/ }, (a) => ({ path: a.path, namespace: 'vendor' }));
    b.onLoad({ filter: /.*/, namespace: 'vendor' }, (a) => ({
      resolveDir: root,
      loader: 'js',
      contents: [
        "const { join } = require('node:path');",
        "const { ROOT } = require('./src/root.ts');",
        "const { requireCached } = require('./src/cli/code-cache.ts');",
        // The commands that read a recipe run yaml's parser, the others do not: one set of data each.
        "const command = ['run', 'plan', 'validate', 'dag'].includes(process.argv[2]) ? process.argv[2] : 'other';",
        `module.exports = requireCached(join(ROOT, 'dist', 'bundle', 'vendor.cjs'), join(ROOT, 'dist', '.code-cache'), command)[${JSON.stringify(VENDOR[a.path])}];`,
      ].join('\n'),
    }));
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
// Compile data made for an older vendor.cjs is never looked up again (it is named by the source's digest).
rmSync(join(root, 'dist', '.code-cache'), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  stdin: {
    contents:
      "export * as yaml from 'yaml';\nexport { default as jsyaml } from 'js-yaml';\nexport * as commander from 'commander';\nexport { default as betterSqlite3 } from 'better-sqlite3';\n",
    resolveDir: root,
    sourcefile: 'vendor.js',
  },
  outfile: join(outdir, 'vendor.cjs'),
  bundle: true,
  // better-sqlite3 asks `bindings` for its addon only when not given its path (src/store/db.ts gives it).
  external: ['bindings'],
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [yamlAsEsm, lazyChildProcess],
});
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
  // Inlined CommonJS (the stand-ins above) calls require().
  banner: { js: "import { createRequire as __flowRequire } from 'node:module'; const require = __flowRequire(import.meta.url);" },
  logLevel: 'warning',
  plugins: [vendorByCodeCache],
});
