// Where each field of a recipe sits in its file (`steps.train.with.lora.rank` ->
// file:line:col), for error messages. Finding every position walks each node of
// the YAML document and builds a path string per field: a tenth of a
// 10,000-step plan that reports no error. So the map is filled on its first
// read, from the parsed document it keeps, and a plan that succeeds never
// fills it.

import { isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import { RecipeError } from './errors.js';
import type { SourcePos } from './types.js';

type At = (offset: number) => SourcePos;

/** A parsed document's root node, and the place of an offset in its text. */
export interface Located {
  root: Node | null;
  at: At;
}

/** A Map of positions that fills itself from the document (parsed then, if need be) when first read. */
export class SourcePositions extends Map<string, SourcePos> {
  private pending: (() => void) | undefined;

  constructor(locate: () => Located) {
    super();
    this.pending = () => {
      let located: Located;
      try {
        located = locate();
      } catch (e) {
        // Read fast (yaml-fast.ts), a text the yaml library refuses: no positions, the error keeps its fallback place.
        if (e instanceof RecipeError) return;
        throw e;
      }
      collectPositions(located.root, '', (k, v) => super.set(k, v), located.at);
    };
  }

  private ready(): void {
    const fill = this.pending;
    this.pending = undefined;
    fill?.();
  }

  override get(key: string): SourcePos | undefined {
    this.ready();
    return super.get(key);
  }
  override has(key: string): boolean {
    this.ready();
    return super.has(key);
  }
  override set(key: string, value: SourcePos): this {
    this.ready();
    return super.set(key, value);
  }
  override get size(): number {
    this.ready();
    return super.size;
  }
  override entries(): MapIterator<[string, SourcePos]> {
    this.ready();
    return super.entries();
  }
  override keys(): MapIterator<string> {
    this.ready();
    return super.keys();
  }
  override values(): MapIterator<SourcePos> {
    this.ready();
    return super.values();
  }
  override forEach(fn: (value: SourcePos, key: string, map: Map<string, SourcePos>) => void, thisArg?: unknown): void {
    this.ready();
    super.forEach(fn, thisArg);
  }
  override [Symbol.iterator](): MapIterator<[string, SourcePos]> {
    return this.entries();
  }
}

/** Records the position of every value (`path`) and every mapping key (`path@key`). */
function collectPositions(node: Node | null, path: string, set: (k: string, v: SourcePos) => void, at: At): void {
  if (!node) return;
  if (node.range) set(path, at(node.range[0]));
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const child = path ? `${path}.${String(pair.key.value)}` : String(pair.key.value);
      if (pair.key.range) set(`${child}@key`, at(pair.key.range[0]));
      collectPositions(pair.value as Node | null, child, set, at);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => collectPositions(item as Node, path ? `${path}.${i}` : String(i), set, at));
  }
}

/**
 * Refuses a key that appears twice in one mapping, naming the second: the yaml library's
 * DUPLICATE_KEY check compares each key with every earlier one of its map (quadratic: most
 * of a 10,000-step plan), so it is off and this one runs in linear time.
 */
/**
 * What the yaml library would accept but flow cannot carry faithfully, refused where it is
 * written: a duplicate key; a tag (`!!binary` became a char-code map, `!!set` an empty object:
 * `--set` refuses them too); a number that is not finite (`.inf`, `.nan`, `1e999` became null
 * in JSON); a key that names an object's prototype machinery (`__proto__` made a step vanish).
 */
export function checkUniqueKeys(node: Node | null, at: At, path = ''): void {
  const tag = (node as { tag?: string } | null)?.tag;
  if (node && tag) {
    throw new RecipeError(`YAML tags (${tag.replace(/^tag:yaml\.org,2002:/, '!!')}) are not allowed in a recipe; write the value plainly`, at(node.range?.[0] ?? 0), path || 'YAML tags');
  }
  if (isScalar(node) && typeof node.value === 'number' && !Number.isFinite(node.value)) {
    throw new RecipeError(`${node.source ?? String(node.value)} is not a finite number; flow cannot pass it to a step`, at(node.range?.[0] ?? 0), path);
  }
  if (isMap(node)) {
    const seen = new Set<unknown>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? pair.key.value : undefined;
      if (pair.key && !isScalar(pair.key)) {
        // The yaml library would print a warning and turn the key into its text.
        throw new RecipeError('a key must be a plain name, not a list or a mapping', at((pair.key as Node).range?.[0] ?? node.range?.[0] ?? 0), path || '(top level)');
      }
      if (isScalar(pair.key)) {
        const field = path ? `${path}.${String(key)}` : String(key);
        if (seen.has(key)) throw new RecipeError(`${JSON.stringify(String(key))} appears twice in the same mapping; keep one`, at(pair.key.range?.[0] ?? node.range?.[0] ?? 0), field);
        seen.add(key);
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
          throw new RecipeError(`"${key}" is a reserved name; pick another`, at(pair.key.range?.[0] ?? 0), field);
        }
      }
      checkUniqueKeys(pair.value as Node | null, at, path ? `${path}.${String(key)}` : String(key));
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => checkUniqueKeys(item as Node | null, at, path ? `${path}.${i}` : String(i)));
  }
}

/**
 * A position looked up only when one of its fields is read: every StepDef keeps its key's
 * place for its errors, and finding it must not cost a plan that reports none.
 */
export function lazyPos(positions: Map<string, SourcePos>, key: string, fallback: SourcePos): SourcePos {
  let pos: SourcePos | undefined;
  const get = () => (pos ??= positions.get(key) ?? fallback);
  return {
    get file() {
      return get().file;
    },
    get line() {
      return get().line;
    },
    get col() {
      return get().col;
    },
  };
}
