import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resvg } from '@resvg/resvg-js';
import { hardnessBarsChart, hardnessBarsSvg } from '../src/charts/bars.js';
import { CHART_HEIGHT, CHART_WIDTH, PNG_FONTS, PNG_SCALE } from '../src/charts/png.js';
import { runExperimentCommand } from '../src/cli/experiments.js';
import type { CmdContext } from '../src/experiments/commands.js';
import { compare } from '../src/experiments/compare.js';
import { plotRun } from '../src/experiments/plot.js';
import type { DB } from '../src/store/db.js';
import { evalMetrics, recordRun, sweepStore } from './helpers/experiments-store.js';

/** The command as the CLI parses it (commander). */
const cmdPlot = (argv: string[], ctx: CmdContext) => runExperimentCommand('plot', argv, ctx);

let dir: string;
let db: DB;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flow-plot-'));
  db = sweepStore(join(dir, 'flow.db'));
  recordRun(db, { id: 'r4-data-only', name: 'data', startedAt: 1_600_000_000_000, steps: [{ stepId: 'data' }] });
});
afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Width and height from a PNG's signature and IHDR chunk, or an error if it is not a PNG. */
function pngSize(buf: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!buf.subarray(0, 8).equals(signature)) throw new Error('not a PNG signature');
  if (buf.toString('ascii', 12, 16) !== 'IHDR') throw new Error('first chunk is not IHDR');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

const EXPECTED = { width: CHART_WIDTH * PNG_SCALE, height: CHART_HEIGHT * PNG_SCALE };

describe('plots', () => {
  it('writes loss curves and EX bars of a run as SVG and PNG of the expected size', async () => {
    const out = join(dir, 'run');
    const files = await plotRun(db, 'r3-sweep', out);
    expect(files.map((f) => basename(f))).toEqual(['loss.svg', 'loss.png', 'ex-by-hardness.svg', 'ex-by-hardness.png', 'em-by-hardness.svg', 'em-by-hardness.png']);

    for (const f of files.filter((f) => f.endsWith('.png'))) {
      const png = readFileSync(f);
      expect(pngSize(png)).toEqual(EXPECTED);
      expect(png.length).toBeGreaterThan(10_000);
    }
    const loss = readFileSync(join(out, 'loss.svg'), 'utf8');
    expect(loss).toMatch(/^<svg [^>]*width="640" height="360"/);
    // One line per variant, legend labelled by variant; the cache hits show their original series.
    for (const v of ['lora_rank=32 finetuning=lora', 'lora_rank=128 finetuning=lora', 'lora_rank=32 finetuning=full']) {
      expect(loss).toContain(`>${v}</text>`);
    }
    expect(loss.match(/<path [^>]*aria-roledescription="line mark"/g) ?? []).toHaveLength(3);

    const bars = readFileSync(join(out, 'ex-by-hardness.svg'), 'utf8');
    expect(bars).toContain('>EX by hardness</text>');
    // Each hardness with its item count; each bar with its value.
    for (const [h, n] of [['easy', 232], ['medium', 416], ['hard', 160], ['extra', 164], ['all', 972]]) expect(bars).toContain(`>${h} (n=${n})</text>`);
    expect(bars).toContain('>0.640</text>');
    // 3 variants x 5 hardness levels.
    expect(bars.match(/aria-roledescription="bar"/g) ?? []).toHaveLength(15);
    // EM is charted too.
    const em = readFileSync(join(out, 'em-by-hardness.svg'), 'utf8');
    expect(em).toContain('>EM by hardness</text>');
    expect(em).toContain('>0.540</text>');
  });

  it('a 0 reads 0.000 over an empty bar, a missing value n/a with no bar', async () => {
    const svg = hardnessBarsSvg(
      [
        { group: 'A', hardness: 'easy', value: 0, count: 4 },
        { group: 'A', hardness: 'all', value: 0.5, count: 12 },
        { group: 'B', hardness: 'easy', value: null, count: 4 },
        { group: 'B', hardness: 'all', value: 0.25, count: 12 },
      ],
      'EX by hardness',
      'EX',
    );
    expect(svg).toContain('>0.000</text>');
    expect(svg).toContain('>n/a</text>');
    expect(svg.match(/aria-roledescription="bar"/g) ?? []).toHaveLength(3);
  });

  it('plots a comparison across runs, bars labelled by run', async () => {
    const table = compare(db, { runs: ['r1-sweep', 'r2-baseline'], metric: 'ex' });
    const files = await plotRun(db, table, join(dir, 'cmp'));
    expect(files.map((f) => basename(f))).toEqual(['loss.svg', 'loss.png', 'ex-by-hardness.svg', 'ex-by-hardness.png']);
    const bars = readFileSync(join(dir, 'cmp', 'ex-by-hardness.svg'), 'utf8');
    expect(bars).toContain('>r2-baseline baseline</text>');
    expect(bars.match(/aria-roledescription="bar"/g) ?? []).toHaveLength(20);
    expect(pngSize(readFileSync(files[3]!))).toEqual(EXPECTED);
  });

  it('finds a font for PNG text (Debian: fonts-dejavu-core)', () => {
    const text = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="5" y="30" font-family="DejaVu Sans" font-size="24">EX 0.8</text></svg>';
    const { pixels } = new Resvg(text, { font: PNG_FONTS }).render();
    let inked = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) inked++;
    // Glyphs cover a few hundred of the 4800 pixels; no font leaves all of them transparent.
    expect(inked).toBeGreaterThan(100);
  });

  it('renders the sql-eval bar chart from one metrics.json', async () => {
    const { svg, png } = hardnessBarsChart(evalMetrics([0.9, 0.7, 0.5, 0.3, 0.65], [0.8, 0.6, 0.4, 0.2, 0.55]));
    expect(pngSize(png)).toEqual(EXPECTED);
    expect(svg).toContain('>EX</text>');
    expect(svg).toContain('>EM</text>');
    expect(svg.match(/aria-roledescription="bar"/g) ?? []).toHaveLength(10);
    expect(() => hardnessBarsChart({ count: { all: 3 } })).toThrow('metrics have no ex or em accuracies');
  });

  it('the bar chart, drawn by every sql-eval step, loads no Vega', () => {
    // Compiled JS (built by the test setup) in a fresh process, with a resolve hook that logs every module.
    const hook = join(dir, 'log-loads.mjs');
    writeFileSync(hook, "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOAD ' + r.url + '\\n'); return r; }\n");
    const reg = join(dir, 'register.mjs');
    writeFileSync(reg, `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hook).href)});\n`);
    const bars = pathToFileURL(resolve(import.meta.dirname, '../dist/src/charts/bars.js')).href;
    const script = `const m = await import(${JSON.stringify(bars)}); if (m.hardnessBarsChart({ ex: { all: 0.5 } }).png.length < 1000) process.exit(3);`;
    const r = spawnSync(process.execPath, ['--import', reg, '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('LOAD '));
    expect(loaded.some((l) => l.endsWith('/charts/bars.js'))).toBe(true);
    expect(loaded.filter((l) => /\/vega/.test(l))).toEqual([]);
  });

  it('flow plot prints the files it wrote and explains when there is nothing to plot', async () => {
    let stdout = '';
    let stderr = '';
    const ctx = {
      db,
      cacheDir: dir,
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
    };
    expect(await cmdPlot(['compare', '--recipe', 'sweep', '--out', join(dir, 'cli')], ctx)).toBe(0);
    expect(stdout.trim().split('\n')).toEqual(['loss.svg', 'loss.png', 'ex-by-hardness.svg', 'ex-by-hardness.png'].map((f) => join(dir, 'cli', f)));

    stdout = '';
    expect(await cmdPlot(['r2-baseline'], ctx)).toBe(0);
    expect(stdout).toBe(`${join(dir, 'reports', 'r2-baseline', 'ex-by-hardness.svg')}\n${join(dir, 'reports', 'r2-baseline', 'ex-by-hardness.png')}\n`);

    expect(await cmdPlot(['r4-data-only'], ctx)).toBe(1);
    expect(stderr).toBe('flow: run r4-data-only recorded no training loss and no accuracies: nothing to plot\n');
  });
});
