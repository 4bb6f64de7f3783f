// Plain mode ends with every evaluation's EX/EM table, each labelled by its step
// and variant: a sweep of sql-eval steps prints one table per variant, whether
// the step ran or came from the cache (real sql-eval steps through the CLI).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sandbox } from './helpers/cli.js';
import { makeDb } from './helpers/sql-eval.js';

const GOLD = ['SELECT name FROM people WHERE age > 26', 'SELECT count(*) FROM people', 'SELECT max(age) FROM people'];
// Variant `good` gets all three right; `half` gets one right.
const PREDICTIONS: Record<string, string[]> = {
  good: GOLD,
  half: ['SELECT name FROM people WHERE age > 26', 'SELECT count(*) FROM big', 'SELECT min(age) FROM people'],
};

const recipe = (dbDir: string, tables: string) => `name: eval-sweep
params:
  model: good
matrix:
  model: [good, half]
steps:
  eval:
    uses: sql-eval
    with:
      predictions: pred-\${params.model}.sql
      gold: gold.sql
      db_dir: ${dbDir}
      tables: ${tables}
      workers: 1
`;

/** The table printed under `heading`: the heading line and the rows after it, up to a blank line. */
function tableAfter(stdout: string, heading: string): string[] {
  const lines = stdout.split('\n');
  const at = lines.indexOf(heading);
  if (at < 0) return [];
  const end = lines.indexOf('', at);
  return lines.slice(at + 1, end < 0 ? undefined : end);
}

describe('plain reporter', () => {
  it('prints one EX/EM table per evaluation, labelled by step and variant, cold and warm', async () => {
    const s = sandbox();
    const { dbDir, tables } = makeDb(s.dir, 'shop');
    writeFileSync(join(s.dir, 'gold.sql'), GOLD.map((g) => `${g}\tshop\n`).join(''));
    for (const [name, preds] of Object.entries(PREDICTIONS)) writeFileSync(join(s.dir, `pred-${name}.sql`), `${preds.join('\n')}\n`);
    const file = s.write('r.yml', recipe(dbDir, tables));

    for (const pass of ['cold', 'warm']) {
      const r = await s.flow(['run', file, '--ui', 'plain']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(pass === 'cold' ? /2 ran, 0 cached/ : /0 ran, 2 cached/);
      const good = tableAfter(r.stdout, 'eval[model=good]: accuracy by hardness');
      const half = tableAfter(r.stdout, 'eval[model=half]: accuracy by hardness');
      for (const t of [good, half]) {
        expect(t[0]).toMatch(/^ +easy +medium +hard +extra +all$/);
        expect(t.find((l) => l.trim().startsWith('COUNT'))).toMatch(/ 3$/);
      }
      expect(good.find((l) => l.trim().startsWith('EX'))).toMatch(/ 1\.000$/);
      expect(half.find((l) => l.trim().startsWith('EX'))).toMatch(/ 0\.333$/);
      expect(half.find((l) => l.trim().startsWith('EM'))).toMatch(/ 0\.333$/);
    }
  });
});
