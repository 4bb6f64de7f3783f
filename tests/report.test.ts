import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExperimentCommand } from '../src/cli/experiments.js';
import type { CmdContext } from '../src/experiments/commands.js';
import { compareReport, report } from '../src/experiments/report.js';
import type { DB } from '../src/store/db.js';
import { evalMetrics, recordRun, sweepStore } from './helpers/experiments-store.js';

/** The command as the CLI parses it (commander). */
const cmdReport = (argv: string[], ctx: CmdContext) => runExperimentCommand('report', argv, ctx);

const CHROMIUM = '/usr/bin/chromium';

let dir: string;
let db: DB;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flow-report-'));
  db = sweepStore(join(dir, 'flow.db'));
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** SQL a Text-to-SQL model gets wrong is made of exactly the characters markdown and HTML give meaning to. */
const GOLD_SQL = "SELECT `name` FROM singer WHERE age >= 20 AND age < 30 AND note = 'a&b' OR x || y";
const PRED_SQL = "SELECT name FROM singer WHERE age > 20 AND note <> '<b>|</b>'";

/** A run whose eval step got GOLD_SQL wrong as PRED_SQL; returns its id. */
function sqlRun(): string {
  const id = 'r10-sql';
  if (db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id)) return id;
  const results = join(dir, 'sql-results.jsonl');
  writeFileSync(results, `${JSON.stringify({ index: 0, hardness: 'extra', ex: 0, em: 0, pred: PRED_SQL, gold: GOLD_SQL, error: null })}\n`);
  recordRun(db, { id, name: 'sqlchars', startedAt: 1_700_000_600_000, steps: [{ stepId: 'eval', type: 'sql-eval', metrics: evalMetrics([0, 0, 0, 0, 0]) }] });
  db.prepare('UPDATE executions SET outputs = ? WHERE run_id = ?').run(JSON.stringify({ results }), id);
  return id;
}

describe('flow report', () => {
  it('writes markdown with the run summary, params, step timings, cache hits, tables and charts', async () => {
    const files = await report(db, 'r3-sweep', join(dir, 'md'));
    const md = readFileSync(files.md, 'utf8');
    expect(md).toContain('# sweep: run r3-sweep\n');
    expect(md).toContain('| recipe   | /work/recipes/sweep.yml         |');
    expect(md).toContain('| steps    | 7 (5 from cache, saving 2m 33s) |');
    expect(md).toContain('| finetuning | lora  |');
    expect(md).toContain('| train[lora_rank=128,finetuning=lora] | python:sft  | done   |    1m 5s |                |');
    expect(md).toContain('| train[lora_rank=32,finetuning=full]  | python:sft  | cached |      3ms |         1m 30s |');
    expect(md).toContain('| lora_rank=128 finetuning=lora | **0.860** |     0.630 | **0.500** | **0.310** | **0.640** |');
    expect(md).toContain('## EM by hardness');
    expect(md).toContain('![Training loss](loss.png)');
    expect(md).toContain('![EX by hardness](ex-by-hardness.png)');
    expect(files.charts.map((f) => f.slice(join(dir, 'md').length + 1))).toEqual([
      'loss.svg',
      'loss.png',
      'ex-by-hardness.svg',
      'ex-by-hardness.png',
      'em-by-hardness.svg',
      'em-by-hardness.png',
    ]);
    expect(md).toContain('![EM by hardness](em-by-hardness.png)');
    for (const f of files.charts) expect(existsSync(f)).toBe(true);
  });

  it('lists failures and keeps markup in user text inert', async () => {
    recordRun(db, {
      id: 'r5-<b>',
      name: 'broken|recipe',
      startedAt: 1_500_000_000_000,
      params: { note: '<script>alert(1)</script>' },
      status: 'failed',
      steps: [
        { stepId: 'eval', metrics: { ex: { '<i>odd</i>': 0.5, all: 0.4 } } },
        { stepId: 'train', status: 'failed', error: 'CUDA out of memory\nat step 3' },
      ],
    });
    const files = await report(db, 'r5-<b>', join(dir, 'failed'));
    const md = readFileSync(files.md, 'utf8');
    expect(md).toContain('# broken\\|recipe: run r5-&lt;b&gt;');
    expect(md).toContain('- **train** failed (exit 1): CUDA out of memory');
    const html = readFileSync(files.html, 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<i>');
    expect(html).toContain('<th align="right">&lt;i&gt;odd&lt;/i&gt;</th>');
    // Columns in the order the step wrote them.
    expect(md).toMatch(/\| step \| +&lt;i&gt;odd&lt;\/i&gt; \| +all \|\n.*\n\| eval \| +0\.500 \| +0\.400 \|/);
    expect(files.charts.map((f) => f.slice(join(dir, 'failed').length + 1))).toEqual(['ex-by-hardness.svg', 'ex-by-hardness.png']);
  });

  it('flow report defaults to the latest finished run, says which, and prints the files', async () => {
    let stdout = '';
    let stderr = '';
    const code = await cmdReport([], { db, cacheDir: dir, stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
    expect(code).toBe(0);
    const out = join(dir, 'reports', 'r3-sweep');
    expect(stdout).toBe(`${join(out, 'report.html')}\n${join(out, 'report.md')}\n`);
    // Runs are ordered as they were recorded, not by their clock: r5-<b>, recorded by the test
    // above with a 2017 start time, is newer than r3 and passed over (it failed).
    expect(stderr).toBe('reporting run r3-sweep (sweep), the newest finished run; passed over newer r5-<b> (failed)\n');
  });

  it('freezes what a run reused: a later run of the same key does not change its cache figures', async () => {
    const before = readFileSync((await report(db, 'r3-sweep', join(dir, 'frozen-1'))).md, 'utf8');
    expect(before).toContain('| steps    | 7 (5 from cache, saving 2m 33s) |');
    // A later --force of train[lora_rank=32,finetuning=lora] commits the same key again, faster.
    recordRun(db, {
      id: 'r7-forced',
      name: 'sweep',
      startedAt: 1_700_000_300_000,
      steps: [{ stepId: 'train[lora_rank=32,finetuning=lora]', type: 'python:sft', variant: { lora_rank: 32, finetuning: 'lora' }, durationMs: 5_000, key: 'k-t1' }],
    });
    const after = readFileSync((await report(db, 'r3-sweep', join(dir, 'frozen-2'))).md, 'utf8');
    expect(after).toContain('| steps    | 7 (5 from cache, saving 2m 33s) |');
    expect(after).toMatch(/train\[lora_rank=32,finetuning=lora\] +\| python:sft +\| cached +\| +3ms +\| +1m \|/);
  });

  it("a failed run's report lists every step, those that never started too, with error text and log path", async () => {
    const recipeDir = mkdtempSync(join(tmpdir(), 'flow-report-recipe-'));
    const recipe = join(recipeDir, 'recipe.yml');
    copyFileSync(join(import.meta.dirname, 'fixtures/tui/recipe.yml'), recipe);
    recordRun(db, {
      id: 'r8-failed',
      name: 'tui-e2e',
      recipe,
      startedAt: 1_700_000_400_000,
      status: 'failed',
      steps: [{ stepId: 'make', status: 'failed', error: 'command exited with code 1' }],
    });
    db.prepare("UPDATE executions SET log_path = '/cache/logs/r8-make.log' WHERE run_id = 'r8-failed'").run();
    const md = readFileSync((await report(db, 'r8-failed', join(dir, 'r8'))).md, 'utf8');
    expect(md).toMatch(/\| make +\| run +\| failed +\|/);
    expect(md).toMatch(/\| count +\| run +\| not run +\|/);
    expect(md).toMatch(/\| report +\| run +\| not run +\|/);
    expect(md).toContain('- **make** failed (exit 1): command exited with code 1\n  log: `/cache/logs/r8-make.log`');
    expect(md).toContain('- **count** not run: the run failed before it could start');
    expect(md).toContain('- **report** not run: the run failed before it could start');
  });

  it('shows the first wrong predictions per hardness from the eval results', async () => {
    const results = join(dir, 'results.jsonl');
    const item = (i: number, hardness: string, ex: number) =>
      JSON.stringify({ index: i, hardness, ex, em: ex, pred: `SELECT ${i} FROM t`, gold: `SELECT ${i} FROM gold`, error: ex ? null : i % 2 ? 'no such column: x' : null });
    const lines = [
      ...Array.from({ length: 8 }, (_, i) => item(i, 'easy', i < 7 ? 0 : 1)),
      item(20, 'hard', 0),
      item(21, 'hard', 1),
    ];
    writeFileSync(results, lines.join('\n') + '\n');
    recordRun(db, {
      id: 'r9-eval',
      name: 'evalonly',
      startedAt: 1_700_000_500_000,
      steps: [{ stepId: 'eval', type: 'sql-eval', metrics: evalMetrics([0.1, 0.2, 0.3, 0.4, 0.2]) }],
    });
    db.prepare("UPDATE executions SET outputs = ? WHERE run_id = 'r9-eval'").run(JSON.stringify({ results }));
    const md = readFileSync((await report(db, 'r9-eval', join(dir, 'r9'))).md, 'utf8');
    expect(md).toContain('## Wrong predictions: eval');
    expect(md).toContain('The first 5 of 8 wrong items per hardness (of 10).');
    expect(md).toContain('| easy (7 wrong) | `SELECT 0 FROM gold` | `SELECT 0 FROM t` |  |');
    expect(md).toContain('| easy (7 wrong) | `SELECT 1 FROM gold` | `SELECT 1 FROM t` | no such column: x |');
    expect(md).not.toContain('SELECT 5 FROM t');
    expect(md).toContain('| hard (1 wrong) | `SELECT 20 FROM gold` | `SELECT 20 FROM t` |  |');
    expect(md).not.toContain('SELECT 21 FROM t');
  });

  it('shows SQL in the wrong predictions as written: < > & | and backticks', async () => {
    const files = await report(db, sqlRun(), join(dir, 'sql-md'));
    const md = readFileSync(files.md, 'utf8');
    // A code span is literal in markdown: no entity may be written inside one.
    expect(md).toContain(`| extra (1 wrong) | \`\` ${GOLD_SQL.replace(/\|/g, '\\|')} \`\` | \`${PRED_SQL.replace(/\|/g, '\\|')}\` |  |`);
    expect(md).not.toMatch(/&(gt|lt|amp);/);
  });

  it('report --compare A B writes a comparison into a folder of its own', async () => {
    let stdout = '';
    const ctx = { db, cacheDir: dir, stdout: { write: (s: string) => (stdout += s) } };
    expect(await cmdReport(['--compare', 'r1-sweep', 'r3-sweep'], ctx)).toBe(0);
    const out = join(dir, 'reports', 'compare-r1-sweep-vs-r3-sweep');
    expect(stdout).toBe(`${join(out, 'report.html')}\n${join(out, 'report.md')}\n`);
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toContain('# Comparison: r1-sweep vs r3-sweep');
    expect(md).toContain('## EX by hardness');
    expect(md).toContain('## EM by hardness');
    expect(md).toContain('![EX by hardness](ex-by-hardness.png)');
    expect(existsSync(join(out, 'ex-by-hardness.png'))).toBe(true);
    // Neither run's own report folder is touched.
    expect(existsSync(join(dir, 'reports', 'r1-sweep'))).toBe(false);
    expect(await cmdReport(['--compare', 'r1-sweep'], ctx)).toBe(2);
  });
});

describe.skipIf(!existsSync(CHROMIUM))(`the HTML report in headless Chromium (needs ${CHROMIUM}: apt-get install chromium)`, () => {
  it('opens from disk with no server: tables present, every image loaded, nothing fetched', async () => {
    const files = await report(db, 'r3-sweep', join(dir, 'html'));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const fetched: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('data:')) fetched.push(r.url());
      });
      await page.goto(pathToFileURL(files.html).href, { waitUntil: 'load' });

      // The only request is the report itself: it is self-contained.
      expect(fetched).toEqual([pathToFileURL(files.html).href]);
      expect(await page.title()).toBe('sweep: run r3-sweep');

      const tables = await page.$$eval('table', (ts) =>
        ts.map((t) => [...t.querySelectorAll('tr')].map((tr) => [...tr.children].map((c) => (c as HTMLElement).innerText.trim()))),
      );
      // Summary, params, steps, EX, EM, then per metric the variants' params, final loss and duration.
      expect(tables).toHaveLength(7);
      expect(tables[5]![0]).toEqual(['variant', 'lora_rank', 'finetuning', 'final loss', 'duration']);
      expect(tables[3]).toEqual([
        ['variant', 'easy', 'medium', 'hard', 'extra', 'all'],
        ['lora_rank=32 finetuning=full', '0.800', '0.660', '0.480', '0.300', '0.625'],
        ['lora_rank=32 finetuning=lora', '0.810', '0.620', '0.450', '0.300', '0.600'],
        ['lora_rank=128 finetuning=lora', '0.860', '0.630', '0.500', '0.310', '0.640'],
      ]);
      const bold = await page.$$eval('table:nth-of-type(4) strong', (els) => els.map((e) => e.textContent));
      expect(bold).toEqual(['0.660', '0.860', '0.500', '0.310', '0.640']);

      const images = await page.$$eval('img', (imgs) =>
        (imgs as HTMLImageElement[]).map((i) => ({ alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight })),
      );
      expect(images).toEqual([
        { alt: 'Training loss', complete: true, w: 640, h: 360 },
        { alt: 'EX by hardness', complete: true, w: 640, h: 360 },
        { alt: 'EM by hardness', complete: true, w: 640, h: 360 },
      ]);
      // Charts take the full width of the text column, not their 640 px.
      await page.setViewportSize({ width: 1200, height: 900 });
      const widths = await page.$$eval('img', (imgs) => imgs.map((i) => [i.getBoundingClientRect().width, i.parentElement!.getBoundingClientRect().width]));
      for (const [img, column] of widths) expect(img).toBe(column);
      expect(widths[0]![0]).toBeGreaterThan(640);
    } finally {
      await browser.close();
    }
  });

  it('draws EX per checkpoint against the training step, as an image the page loads', async () => {
    // A run's per-checkpoint evaluations as the engine records them: instances with a ckpt axis, finished out of order.
    recordRun(db, {
      id: 'r10-ckpt',
      name: 'ckpt',
      startedAt: 1_700_002_000_000,
      steps: [6, 2, 4].map((step) => ({
        stepId: `eval_val[ckpt=${step}]`,
        type: 'sql-eval',
        variant: { ckpt: step },
        metrics: evalMetrics({ 2: [0.5, 0.3, 0.2, 0.1, 0.3], 4: [0.7, 0.5, 0.3, 0.2, 0.45], 6: [0.6, 0.4, 0.3, 0.2, 0.4] }[step]!),
      })),
    });
    const files = await report(db, 'r10-ckpt', join(dir, 'ckpt-html'));
    expect(readFileSync(files.md, 'utf8')).toContain('![EX per checkpoint](ex-by-checkpoint.png)');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(files.html).href, { waitUntil: 'load' });
      const images = await page.$$eval('img', (imgs) => (imgs as HTMLImageElement[]).map((i) => ({ alt: i.alt, complete: i.complete, w: i.naturalWidth })));
      expect(images).toContainEqual({ alt: 'EX per checkpoint', complete: true, w: 640 });
      // The curve's points are the checkpoints' overall EX, in training-step order, and each level has its line.
      const svg = readFileSync(join(dir, 'ckpt-html', 'ex-by-checkpoint.svg'), 'utf8');
      for (const series of ['eval_val all', 'eval_val easy', 'eval_val extra']) expect(svg).toContain(series);
    } finally {
      await browser.close();
    }
  });

  it('shows SQL in the wrong predictions as written', async () => {
    const files = await report(db, sqlRun(), join(dir, 'sql-html'));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(files.html).href, { waitUntil: 'load' });
      const row = await page.$$eval('table', (ts) => [...ts.at(-1)!.querySelectorAll('tbody td')].map((c) => (c as HTMLElement).innerText));
      expect(row).toEqual(['extra (1 wrong)', GOLD_SQL, PRED_SQL, '']);
      expect(await page.$$eval('code', (cs) => cs.map((c) => c.textContent))).toEqual([GOLD_SQL, PRED_SQL]);
    } finally {
      await browser.close();
    }
  });

  it('a comparison shows the paired statistics and the items on which the two evaluations disagree', async () => {
    // Two runs' evaluations of the same 40 items (same provenance), with per-item results.
    const provenance = { evaluator: 'sql-eval', mode: 'test-suite', gold: { digest: 'ab'.repeat(32), items: 40 } };
    const levels = ['easy', 'medium', 'hard', 'extra'];
    const right = { 'c1-base': (i: number) => i % 2 === 0, 'c2-tuned': (i: number) => (i % 2 === 0 && i !== 4) || i % 5 === 1 };
    for (const [id, isRight] of Object.entries(right)) {
      const results = join(dir, `${id}.jsonl`);
      const items = Array.from({ length: 40 }, (_, i) => ({
        index: i,
        hardness: levels[i % 4],
        groups: { hardness: levels[i % 4] },
        question: `How many rows have x < ${i}?`,
        gold: `SELECT count(*) FROM t WHERE x < ${i}`,
        pred: isRight(i) ? `SELECT count(*) FROM t WHERE x < ${i}` : `SELECT ${id} FROM t`,
        ex: isRight(i) ? 1 : 0,
      }));
      writeFileSync(results, items.map((it) => JSON.stringify(it)).join('\n') + '\n');
      recordRun(db, { id, name: id, startedAt: 1_700_001_000_000, steps: [{ stepId: 'eval', type: 'sql-eval', metrics: { ...evalMetrics([0.5, 0.5, 0.5, 0.5, 0.5]), provenance } }] });
      db.prepare('UPDATE executions SET outputs = ? WHERE run_id = ?').run(JSON.stringify({ results }), id);
    }
    const files = await compareReport(db, ['c1-base', 'c2-tuned'], join(dir, 'cmp-html'));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(files.html).href, { waitUntil: 'load' });
      const tables = await page.$$eval('table', (ts) =>
        ts.map((t) => [...t.querySelectorAll('tr')].map((tr) => [...tr.children].map((c) => (c as HTMLElement).innerText.trim()))),
      );
      const significance = tables.find((t) => t[0]![1] === 'group')!;
      // 20 right in base; tuned fixes 4 (1, 11, 21, 31) and breaks item 4: 23 right, 5 discordant
      // items split 1:4, p = 2 P(X <= 1 | 5, 1/2) = 2 * 6/32: not significant.
      expect(significance[1]).toEqual(['c2-tuned c2-tuned', 'all', '40', '0.500', '0.575', '+0.075', expect.stringMatching(/^\[[-+]?0\.\d{3}, \+0\.\d{3}\]$/), '0.3750 n.s.']);
      expect(significance.slice(2).map((r) => r[1])).toEqual(levels);
      const items = tables.find((t) => t[0]![0] === 'item' && t.length === 2)!;
      expect(items[1]).toEqual(['4', 'easy', 'How many rows have x < 4?', 'SELECT count(*) FROM t WHERE x < 4', 'SELECT count(*) FROM t WHERE x < 4', 'SELECT c2-tuned FROM t']);
      const headings = await page.$$eval('h2, h3', (hs) => hs.map((h) => h.textContent));
      expect(headings).toContain('Right in c1-base c1-base, wrong in c2-tuned c2-tuned: 1');
      expect(headings).toContain('Wrong in c1-base c1-base, right in c2-tuned c2-tuned: 4');
      expect(await page.$$eval('script', (s) => s.length)).toBe(0);
    } finally {
      await browser.close();
    }
  });
});
