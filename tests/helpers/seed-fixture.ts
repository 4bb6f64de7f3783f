// What both seed-recipe test files set up: a temporary folder and cache, the test Python env,
// and tiny models of the families they need, built before their tests and removed after.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { testPython } from './python.js';
import { buildTinyModels, type Arch, type TinySize } from './tiny-seeds.js';

/** The size knobs the tests turn the seed recipes down to. */
export const TEST_SIZE: TinySize = { steps: 2, limit: 4, maxNewTokens: 16, sourceLength: 128, targetLength: 32 };

export function seedFixture(prefix: string, archs: Arch[]): { o: { dir: string; cache: string; python: string }; models: Record<string, string> } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const o = { dir, cache: join(dir, 'cache'), python: '' };
  const models: Record<string, string> = {};
  beforeAll(async () => {
    o.python = await testPython();
    Object.assign(models, await buildTinyModels(archs, { hidden: 64, intermediate: 128, vocab: 800 }, o));
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { o, models };
}
