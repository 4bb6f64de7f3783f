import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmdReport } from '../src/experiments/commands.js';
import { report } from '../src/experiments/report.js';
import type { DB } from '../src/store/db.js';
import { recordRun, sweepStore } from './fixtures/experiments/store.js';

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
    ]);
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
    expect(md).toContain('- **train** : CUDA out of memory at step 3');
    const html = readFileSync(files.html, 'utf8');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<i>');
    expect(html).toContain('<th align="right">&lt;i&gt;odd&lt;/i&gt;</th>');
    expect(md).toMatch(/\| step \| +all \| &lt;i&gt;odd&lt;\/i&gt; \|\n.*\n\| eval \| 0\.400 \| +0\.500 \|/);
    expect(files.charts.map((f) => f.slice(join(dir, 'failed').length + 1))).toEqual(['ex-by-hardness.svg', 'ex-by-hardness.png']);
  });

  it('flow report defaults to the latest run and prints the files', async () => {
    let stdout = '';
    const code = await cmdReport([], { db, cacheDir: dir, stdout: { write: (s: string) => (stdout += s) } });
    expect(code).toBe(0);
    const out = join(dir, 'reports', 'r3-sweep');
    expect(stdout).toBe(`${join(out, 'report.html')}\n${join(out, 'report.md')}\n`);
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
      // Summary, params, steps, EX, EM.
      expect(tables).toHaveLength(5);
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
      ]);
    } finally {
      await browser.close();
    }
  });
});
