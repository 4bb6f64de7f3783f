// Reads a recipe file: YAML with source positions, structure checked against
// the recipe JSON Schema, `--set` overrides applied to params. Every error
// names file:line:col and the field path.

import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, normalize, relative, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { compiledValidator } from './compiled-validator.js';
import { RecipeError, UsageError } from './errors.js';
import { nameTooLong, pathPartTooLong } from './name-length.js';
import { SourcePositions, checkUniqueKeys, lazyPos, type Located } from './positions.js';
import { readYamlFast } from './yaml-fast.js';
import { recipeSchema } from './schema.js';
import { ENTRY_MANIFEST, type ReportTo, type ExecutorConfig, type MatrixDef, type Recipe, type Resources, type SourcePos, type StepDef } from './types.js';

const validateRecipe = compiledValidator('recipe', recipeSchema, { allErrors: false, strict: false });

/** Path for messages: relative to the cwd when that is shorter. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && rel.length < file.length ? rel : file;
}

/** Recipes are small; a bigger file is a mistake (or an attack on the parser), refused before parsing. */
const MAX_RECIPE_BYTES = 1 << 20;

export function loadRecipe(file: string, sets: string[] = []): Recipe {
  const abs = resolve(file);
  const shown = displayPath(abs);
  const text = readRecipeText(abs, shown);
  // Most recipes are well formed: read them fast, and with `yaml` only when that one must decide.
  // A tag, a reserved key or a number that is not finite is judged by `yaml`, which refuses each
  // where it is written (positions.ts): the fast reader would take or mangle them.
  const careful = /(^|[\s[{,:-])!/m.test(text) || /__proto__|constructor|prototype/.test(text);
  let fast = careful ? undefined : readYamlFast(text);
  if (fast && hasNonFinite(fast.value)) fast = undefined;
  const { raw, positions } = fast ? { raw: fast.value, positions: new SourcePositions(() => parseYaml(text, shown).located) } : readYaml(text, shown);
  const top: SourcePos = { file: shown, line: 1, col: 1 };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RecipeError('a recipe is a YAML mapping with name and steps', top);
  }
  if (!validateRecipe(raw)) throw schemaError(validateRecipe.errors![0]!, positions, top);
  refuseNul(raw, '', positions, top);

  const data = raw as {
    name: string;
    description?: string;
    params?: Record<string, unknown>;
    matrix?: Record<string, unknown>;
    python?: Recipe['python'];
    report_to?: ReportTo;
    executor?: string | ExecutorConfig;
    steps: Record<string, Record<string, unknown>>;
  };
  const longName = nameTooLong('a recipe name', data.name);
  if (longName) throw new RecipeError(longName, positions.get('name') ?? top, 'name');
  const params = applySets({ ...(data.params ?? {}) }, sets, shown);
  const steps: Record<string, StepDef> = {};
  for (const [id, s] of Object.entries(data.steps)) steps[id] = stepDef(id, s, params, positions, top);
  return {
    file: abs,
    dir: dirname(abs),
    name: data.name,
    description: data.description,
    params,
    matrix: data.matrix ? toMatrix(data.matrix) : undefined,
    python: data.python,
    ...(data.report_to ? { reportTo: reportTo(data.report_to, dirname(abs)) } : {}),
    executor: executorConfig(data.executor),
    steps,
    positions,
  };
}

/** One step as written, checked where a schema cannot (one of uses/run, output paths, lengths), as a StepDef. */
function stepDef(id: string, s: Record<string, unknown>, params: Record<string, unknown>, positions: Map<string, SourcePos>, top: SourcePos): StepDef {
  const pos = lazyPos(positions, `steps.${id}@key`, top);
  const longId = nameTooLong('a step name', id);
  if (longId) throw new RecipeError(longId, pos, `steps.${id}`);
  if ((s.uses === undefined) === (s.run === undefined)) {
    throw new RecipeError('a step needs exactly one of uses: or run:', pos, `steps.${id}`);
  }
  if (s.uses !== undefined && s.outputs !== undefined) {
    throw new RecipeError(
      `outputs: is for run: steps; a uses: step declares its own outputs`,
      positions.get(`steps.${id}.outputs@key`) ?? pos,
      `steps.${id}.outputs`,
    );
  }
  for (const [name, rel] of Object.entries((s.outputs as Record<string, string>) ?? {})) {
    checkOutputPath(rel, `steps.${id}.outputs.${name}`, () => positions.get(`steps.${id}.outputs.${name}`) ?? pos);
  }
  return {
    id,
    baseId: id,
    uses: s.uses as string | undefined,
    run: s.run as string | undefined,
    with: (s.with as Record<string, unknown>) ?? {},
    inputs: (s.inputs as string[]) ?? [],
    outputs: (s.outputs as Record<string, string>) ?? {},
    needs: (s.needs as string[]) ?? [],
    resources: {
      ...(s.resources as Omit<Resources, 'gpus'>),
      gpus: gpuCount(((s.resources as { gpus?: number | string }) ?? {}).gpus ?? 0, params, () => positions.get(`steps.${id}.resources.gpus`) ?? pos, id),
    },
    executor: executorConfig(s.executor as string | ExecutorConfig | undefined),
    env: Object.fromEntries(Object.entries((s.env as Record<string, unknown>) ?? {}).map(([k, v]) => [k, String(v)])),
    ...(s.select ? { select: s.select as StepDef['select'] } : {}),
    pos,
  };
}

/** A declared output path (`field`: steps.ID.outputs.NAME) that the store can hold, or a RecipeError at it. */
function checkOutputPath(rel: string, field: string, at: () => SourcePos): void {
  // An output lives inside the step's work dir: the store never reaches outside the cache.
  if (isAbsolute(rel) || rel.split(/[\\/]/).includes('..') || normalize(rel) === '.') {
    throw new RecipeError(`output path ${JSON.stringify(rel)} must be relative and inside the step's work dir (no "..")`, at(), field);
  }
  const longPart = pathPartTooLong(rel);
  if (longPart) {
    throw new RecipeError(`output path ${JSON.stringify(clip(rel))}: ${longPart}`, at(), field);
  }
  if (normalize(rel).replace(/[\\/]+$/, '') === ENTRY_MANIFEST) {
    throw new RecipeError(`output path ${JSON.stringify(rel)} is the name of flow's own record in every result; pick another`, at(), field);
  }
}

function readRecipeText(abs: string, shown: string): string {
  try {
    const size = statSync(abs).size;
    if (size > MAX_RECIPE_BYTES) throw new UsageError(`${shown}: recipe is ${size} bytes; a recipe is at most ${MAX_RECIPE_BYTES} bytes`);
    return readFileSync(abs, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${shown}: cannot read recipe (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** The document parsed by the yaml library, or its first error, placed. */
function parseYaml(text: string, shown: string): { doc: Document.Parsed; located: Located } {
  const lineCounter = new LineCounter();
  // uniqueKeys is off because the library checks each key against every earlier one of its
  // map (quadratic: most of a 10,000-step plan); checkUniqueKeys checks them with a Set.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const at = (offset: number): SourcePos => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: shown, line, col };
  };
  const firstError = doc.errors[0];
  if (firstError) {
    // The library's own wording names its API ("please use YAML.parseAllDocuments()"): say it for a recipe.
    const msg =
      firstError.code === 'MULTIPLE_DOCS'
        ? 'a recipe is one YAML document; this file holds more than one (a second "---")'
        : firstError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const field = firstError.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'YAML syntax';
    throw new RecipeError(msg, at(firstError.pos[0]), field);
  }
  return { doc, located: { root: doc.contents as Node | null, at } };
}

/** The reference reading, by the yaml library: every error placed, duplicate keys refused, aliases bounded. */
function readYaml(text: string, shown: string): { raw: unknown; positions: SourcePositions } {
  const { doc, located } = parseYaml(text, shown);
  checkUniqueKeys(located.root, located.at);
  let raw: unknown;
  try {
    // The yaml library's own guard against alias bombs: at most 100 alias expansions.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!;
    // yaml's "Unresolved alias (the anchor must be set before the alias): x", placed at the alias.
    const unresolved = /^Unresolved alias[^:]*: (.*)$/.exec(msg)?.[1];
    if (unresolved === undefined) {
      const why = /Excessive alias count/.test(msg) ? 'too many alias expansions: a recipe may expand at most 100' : msg;
      throw new RecipeError(why, { file: shown, line: 1, col: 1 }, 'YAML aliases');
    }
    let pos: SourcePos = { file: shown, line: 1, col: 1 };
    visit(doc, {
      Alias: (_k, node) => {
        if (node.source !== unresolved) return undefined;
        pos = located.at(node.range?.[0] ?? 0);
        return visit.BREAK;
      },
    });
    throw new RecipeError(`alias *${unresolved} has no anchor &${unresolved} before it`, pos, 'YAML aliases');
  }
  return { raw, positions: new SourcePositions(() => located) };
}

/** `report_to:` with its folders made absolute (against the recipe's folder). */
function reportTo(r: ReportTo, dir: string): ReportTo {
  return {
    ...(r.tensorboard ? { tensorboard: { ...r.tensorboard, ...(r.tensorboard.dir ? { dir: resolve(dir, r.tensorboard.dir) } : {}) } } : {}),
    ...(r.mlflow ? { mlflow: r.mlflow } : {}),
    ...(r.wandb ? { wandb: { ...r.wandb, ...(r.wandb.dir ? { dir: resolve(dir, r.wandb.dir) } : {}) } } : {}),
  };
}

export function executorConfig(e: string | ExecutorConfig | undefined): ExecutorConfig | undefined {
  if (e === undefined) return undefined;
  return typeof e === 'string' ? { type: e } : e;
}

/** `resources.gpus` is a number or `${params.NAME}` naming a whole number, so `--set gpus=4` works. */
function gpuCount(v: number | string, params: Record<string, unknown>, pos: () => SourcePos, id: string): number {
  if (typeof v === 'number') return v;
  const name = v.slice('${params.'.length, -1);
  const n = params[name];
  if (!(name in params)) throw new RecipeError(`unknown param "${name}"`, pos(), `steps.${id}.resources.gpus`);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new RecipeError(`param ${name} must be a whole number of GPUs (got ${JSON.stringify(n)})`, pos(), `steps.${id}.resources.gpus`);
  }
  return n;
}

function toMatrix(m: Record<string, unknown>): MatrixDef {
  const axes: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(m)) if (k !== 'include' && k !== 'exclude') axes[k] = v as unknown[];
  return {
    axes,
    include: (m.include as Array<Record<string, unknown>>) ?? [],
    exclude: (m.exclude as Array<Record<string, unknown>>) ?? [],
  };
}

/** `--set k=v`: the value is read as a YAML scalar, so `--set lora_rank=64` is a number. */
function applySets(params: Record<string, unknown>, sets: string[], shown: string): Record<string, unknown> {
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set ${s}: expected NAME=VALUE`);
    const name = s.slice(0, eq);
    if (!(name in params)) {
      const known = Object.keys(params);
      throw new UsageError(
        `--set ${name}: ${shown} has no param "${name}"${known.length ? ` (params: ${known.join(', ')})` : ''}`,
      );
    }
    params[name] = parseSetValue(name, s.slice(eq + 1));
    if (hasNonFinite(params[name])) throw new UsageError(`--set ${name}=${clip(s.slice(eq + 1))}: not a finite number; flow cannot pass it to a step`);
    if (findNul(params[name], '') !== undefined) throw new UsageError(`--set ${name}: the value holds a NUL byte, which no command line, environment or path can carry`);
  }
  return params;
}

/**
 * The dotted path of the first string (or key) holding a NUL byte: no argv, environment
 * variable or file name can carry one, so a step could never be handed such a value.
 */
function findNul(value: unknown, path: string): string | undefined {
  // An explicit stack: a recipe nests only a few levels, but nothing here should depend on that.
  const todo: Array<[unknown, string]> = [[value, path]];
  while (todo.length) {
    const [v, at] = todo.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) return at;
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const p = at ? `${at}.${k}` : k;
        if (k.includes('\0')) return p;
        todo.push([x, p]);
      }
    }
  }
  return undefined;
}

function hasNonFinite(value: unknown): boolean {
  const todo: unknown[] = [value];
  while (todo.length) {
    const v = todo.pop();
    if (typeof v === 'number' && !Number.isFinite(v)) return true;
    if (v && typeof v === 'object') todo.push(...Object.values(v));
  }
  return false;
}

function refuseNul(raw: unknown, path: string, positions: Map<string, SourcePos>, top: SourcePos): void {
  const at = findNul(raw, path);
  if (at !== undefined) throw new RecipeError('a NUL byte (\\0) in a value: no command line, environment or path can carry one', positions.get(at) ?? top, at);
}

/**
 * A `--set` value is one complete YAML scalar, sequence or mapping: `v=[1,` or an
 * unterminated quote is refused rather than repaired, and so are aliases and tags
 * (a command-line value has nothing to alias, and a tag can construct surprises).
 */
function parseSetValue(name: string, text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false });
  const bad = doc.errors[0] ?? doc.warnings[0];
  if (bad) throw new UsageError(`--set ${name}=${clip(text)}: not a complete YAML value (${bad.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')})`);
  let why: string | undefined;
  visit(doc, {
    Alias: () => {
      why = 'aliases are not allowed';
      return visit.BREAK;
    },
    Node: (_k, node) => {
      if ((node as { tag?: string }).tag || (node as { anchor?: string }).anchor) {
        why = 'anchors and tags are not allowed';
        return visit.BREAK;
      }
      return undefined;
    },
  });
  if (why) throw new UsageError(`--set ${name}=${clip(text)}: ${why}`);
  return doc.toJS();
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function schemaError(err: ErrorObject, positions: Map<string, SourcePos>, top: SourcePos): RecipeError {
  const path = err.instancePath.split('/').slice(1).map(unescapePointer).join('.');
  return ajvToRecipeError(err, path, positions, top);
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Turns one ajv error at `path` (dotted, relative to the document root) into a positioned RecipeError. */
export function ajvToRecipeError(
  err: ErrorObject,
  path: string,
  positions: Map<string, SourcePos>,
  fallback: SourcePos,
): RecipeError {
  const join = (p: string, k: string) => (p ? `${p}.${k}` : k);
  const posOf = (p: string) => positions.get(p) ?? positions.get(`${p}@key`) ?? nearest(p, positions) ?? fallback;
  // A propertyNames failure reports the offending key itself.
  const badName = (err as ErrorObject & { propertyName?: string }).propertyName;
  if (badName !== undefined) {
    return new RecipeError(`invalid name "${badName}" (letters, digits and _; not starting with a digit)`, positions.get(`${join(path, badName)}@key`) ?? posOf(path), join(path, badName));
  }
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = (err.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(((err.parentSchema as { properties?: object })?.properties ?? {}) as object);
      const hint = allowed.length ? ` (allowed: ${allowed.join(', ')})` : '';
      return new RecipeError(`unknown key "${key}"${hint}`, positions.get(`${join(path, key)}@key`) ?? posOf(path), join(path, key));
    }
    case 'required': {
      const key = (err.params as { missingProperty: string }).missingProperty;
      return new RecipeError(`missing required key "${key}"`, posOf(path), path || '(top level)');
    }
    case 'const':
      return new RecipeError(`must be ${JSON.stringify((err.params as { allowedValue: unknown }).allowedValue)}`, posOf(path), path);
    case 'enum': {
      const allowed = (err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v));
      return new RecipeError(`must be one of ${allowed.join(', ')}`, posOf(path), path);
    }
    case 'type':
      return new RecipeError(`must be ${oneOf(String((err.params as { type: string | string[] }).type).split(','))}`, posOf(path), path);
    case 'pattern':
      return new RecipeError(`has the wrong form: it must match ${(err.params as { pattern: string }).pattern}`, posOf(path), path);
    default:
      return new RecipeError(err.message ?? 'invalid', posOf(path), path || '(top level)');
  }
}

/** ajv's type list ("string,number,boolean,null") as words: "a string, a number, a boolean or null". */
function oneOf(types: string[]): string {
  const words = types.map((t) => (t === 'null' ? 'null' : `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`));
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : words[0]!;
}

/** The closest recorded ancestor position of a path that has none of its own. */
function nearest(path: string, positions: Map<string, SourcePos>): SourcePos | undefined {
  const parts = path.split('.');
  while (parts.length) {
    parts.pop();
    const p = positions.get(parts.join('.'));
    if (p) return p;
  }
  return undefined;
}
