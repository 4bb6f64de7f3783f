// The engine's layers, lowest first. A module may import its own layer and
// the layers below it, never one above (tests/architecture.test.ts runs this).
//
//   events, root  ->  proc  ->  recipe  ->  graph  ->  steps (API, registry, analyzer)
//     ->  store (SQLite records)  ->  cache (fingerprint, keys, store, gc)  ->  scheduler  ->  cli
//
// store sits below cache: the cache keeps its entry index and file states in
// SQLite and gc reads which runs need which keys, while the records never
// need the cache. Plugins (src/python, the built-in steps/) see only the
// steps API, proc, events and the charts library; reporters see only events;
// experiments read the store. Only the CLI (the composition root) wires them.

const LAYERS = [
  ['base', '^src/(events|root)\\.ts$'],
  ['proc', '^src/proc/'],
  ['recipe', '^src/recipe/'],
  ['graph', '^src/graph/'],
  ['steps', '^src/steps/'],
  ['store', '^src/store/'],
  ['cache', '^src/cache/'],
  ['scheduler', '^src/scheduler/'],
  ['cli', '^src/cli/'],
];

const layerRules = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `layer-${name}-imports-upward`,
  comment: `${name} may not import ${LAYERS.slice(i + 1).map(([n]) => n).join(', ')}`,
  severity: 'error',
  from: { path },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => `(${p})`).join('|') },
}));

/** Side modules: only the CLI may import them. */
const composedOnlyByCli = {
  name: 'plugins-only-from-cli',
  comment: 'python steps, built-in steps, reporters and experiments are wired by src/cli only',
  severity: 'error',
  from: { path: '^src/', pathNot: '^src/(cli|python|reporters|experiments)/' },
  to: { path: '^(src/(python|reporters|experiments)/|steps/)' },
};

const STEPS_API = '^src/(steps/(types|process-spec)\\.ts|proc/|events\\.ts|root\\.ts|charts/)';

module.exports = {
  forbidden: [
    ...layerRules,
    composedOnlyByCli,
    {
      name: 'plugin-python',
      comment: 'src/python is a plugin: the steps API, proc, events, root only',
      severity: 'error',
      from: { path: '^src/python/' },
      to: { path: '^(src/|steps/)', pathNot: `(${STEPS_API})|^src/python/` },
    },
    {
      name: 'plugin-builtin-steps',
      comment: 'steps/<name>/ are plugins: the steps API, proc, events, root and charts only',
      severity: 'error',
      from: { path: '^steps/' },
      to: { path: '^(src/|steps/)', pathNot: `(${STEPS_API})|^steps/` },
    },
    {
      name: 'reporters-see-events-only',
      severity: 'error',
      from: { path: '^src/reporters/' },
      to: { path: '^src/', pathNot: '^src/(events\\.ts|reporters/)' },
    },
    {
      name: 'experiments-read-the-store',
      comment: 'experiments (compare, report, plot, attach) read records and recipes after the fact; they never run, plan or cache',
      severity: 'error',
      from: { path: '^src/experiments/' },
      to: { path: '^src/', pathNot: '^src/((experiments|store|charts|proc|recipe|graph)/|events\\.ts)' },
    },
    {
      name: 'charts-leaf',
      severity: 'error',
      from: { path: '^src/charts/' },
      to: { path: '^(src|steps)/', pathNot: '^src/charts/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles between modules, type-only imports included (tsPreCompilationDeps): a type two modules share lives in a third',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|tests)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js'] },
  },
};
