// Keys: canonical (field order does not matter), and upstream digests come from
// the referenced outputs' content, not from paths.

import { expect, it } from 'vitest';
import { keyOf, upstreamDigests, type Fingerprint } from '../../src/cache/fingerprint.js';
import type { StepDef } from '../../src/recipe/types.js';

const base: Fingerprint = { v: 1, type: 'run', impl: {}, fields: { run: 'x' }, params: { a: 1, b: 2 }, env: {}, inputs: {}, upstream: {} };

it('a key does not depend on the order of fields, and changes with any value', () => {
  const reordered = { ...base, params: { b: 2, a: 1 } };
  expect(keyOf(reordered)).toBe(keyOf(base));
  expect(keyOf({ ...base, params: { a: 1, b: 3 } })).not.toBe(keyOf(base));
  expect(keyOf(base)).toMatch(/^[0-9a-f]{40}$/);
});

function step(over: Partial<StepDef>): StepDef {
  return { id: 's', baseId: 's', with: {}, inputs: [], outputs: {}, needs: [], resources: { gpus: 0 }, env: {}, pos: { file: 'r.yml', line: 1, col: 1 }, ...over };
}

it('upstream digests: referenced outputs by content, needs: by the whole result, unknown while an upstream is pending', () => {
  const s = step({ run: 'cat ${steps.a.outputs.out}', needs: ['b'] });
  const results = {
    a: { digest: 'A', outputs: { out: { digest: 'a-out' }, other: { digest: 'a-other' } } },
    b: { digest: 'B', outputs: {} },
  };
  expect(upstreamDigests(s, (id) => results[id as 'a' | 'b'])).toEqual({ 'a.out': 'a-out', b: 'B' });
  expect(upstreamDigests(s, (id) => (id === 'a' ? results.a : undefined))).toBeUndefined();
});
