// The commands that read what runs left behind, as a user types them after
// real runs of shell-step recipes: `flow status` has column headers and keeps
// --limit; `flow dag` draws a tree (matrix variants included) unless --format
// asks for Mermaid or dot; `flow log` of a step that never started says why
// in one line; `flow metrics diff` shows the changed rows (--all for every
// one) and never a setting; `flow plot`/`report` without a run take the newest
// finished one and say which.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const FLOW = join(ROOT, 'bin', 'flow.js');

function workspace() {
  const dir = mkdtempSync(join(tmpdir(), 'flow-inspect-'));
  const flow = async (...args: string[]) => {
    const r = await execa(process.execPath, [FLOW, ...args], { reject: false, cwd: dir, env: { FLOW_CACHE: join(dir, 'cache'), NO_COLOR: '1' } });
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
  const recipe = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  return { dir, flow, recipe, db: () => new Database(join(dir, 'cache', 'flow.db')) };
}

/** A sweep with a diamond: eval needs both merge (per variant) and the shared data. */
const SWEEP = `name: sweep
params:
  rank: 8
matrix:
  rank: [8, 16]
steps:
  data:
    run: echo d > d.txt
    outputs: { d: d.txt }
  train:
    run: echo \${params.rank} > t.txt
    needs: [data]
    outputs: { t: t.txt }
  merge:
    run: cat \${steps.train.outputs.t} > m.txt
    outputs: { m: m.txt }
  eval:
    run: cat \${steps.merge.outputs.m} \${steps.data.outputs.d} > e.txt
    outputs: { e: e.txt }
`;

/** train fails for rank 16 only: merge[rank=16] and eval[rank=16] never start. */
const FAILING = SWEEP.replace('run: echo ${params.rank} > t.txt', 'run: test ${params.rank} = 8 || { echo rank too big >&2; exit 3; }; echo ${params.rank} > t.txt');

describe('flow status', () => {
  const ws = workspace();
  beforeAll(async () => {
    const file = ws.recipe('sweep.yml', SWEEP);
    for (let i = 0; i < 3; i++) expect((await ws.flow('run', file, '--ui', 'plain', ...(i ? ['--force-all'] : []))).code).toBe(0);
  });

  it('lists runs under column headers, as many as --limit says', async () => {
    const r = await ws.flow('status', '--limit', '2');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^RUN +RECIPE +STATUS +TIME +RAN +CACHED +FAILED$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^\d{8}T\d{6}-[0-9a-f]{6} +sweep +done +\S+ +7 +0 +0$/);
    // Every value sits under its header.
    const at = (h: string) => lines[0]!.indexOf(h) + h.length;
    expect(lines[1]!.slice(0, at('FAILED'))).toMatch(/ 0$/);
    expect(lines[1]!.slice(0, at('RAN'))).toMatch(/ 7$/);
    expect((await ws.flow('runs')).stdout.split('\n')).toHaveLength(4);
  });

  it("one run's steps under headers", async () => {
    const r = await ws.flow('status', 'last');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^run \S+ +sweep +done /);
    expect(lines[1]).toMatch(/^STEP +STATUS +TIME +KEY$/);
    expect(lines.slice(2).map((l) => l.split(/ +/)[0]).sort()).toEqual(
      ['data', 'eval[rank=16]', 'eval[rank=8]', 'merge[rank=16]', 'merge[rank=8]', 'train[rank=16]', 'train[rank=8]'],
    );
  });
});

describe('flow dag', () => {
  const ws = workspace();

  it('prints a tree by default: each step under the step it waits for last, variants as their own branches', async () => {
    const r = await ws.flow('dag', ws.recipe('sweep.yml', SWEEP));
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'sweep: 7 steps',
      'data                    run',
      '├─ train[rank=8]        run',
      '│  └─ merge[rank=8]     run',
      '│     └─ eval[rank=8]   run  (also needs data)',
      '└─ train[rank=16]       run',
      '   └─ merge[rank=16]    run',
      '      └─ eval[rank=16]  run  (also needs data)',
    ]);
  });

  it('two roots, and a step type beside its name', async () => {
    const file = ws.recipe('two.yml', 'name: two\nsteps:\n  a:\n    run: echo a\n  b:\n    uses: spider-sft\n    with: { spider: x }\n  c:\n    run: echo c\n    needs: [a]\n');
    expect((await ws.flow('dag', file)).stdout.split('\n')).toEqual(['two: 3 steps', 'a     run', '└─ c  run', 'b     spider-sft']);
  });

  it('draws each per-checkpoint instance of a step that reads a training step\'s checkpoints', async () => {
    const file = ws.recipe(
      'ck.yml',
      'name: ck\nsteps:\n  train:\n    uses: python:sft\n    with: { model: m, train_file: t.jsonl, max_steps: 4, save_steps: 2, save_checkpoints: true }\n' +
        '  score:\n    run: ls ${steps.train.outputs.checkpoint} > f.txt\n    outputs: { f: f.txt }\n',
    );
    const r = await ws.flow('dag', file);
    expect(r.stdout.split('\n')).toEqual(['ck: 3 steps', 'train             python:sft', '├─ score[ckpt=2]  run', '└─ score[ckpt=4]  run']);
    expect((await ws.flow('dag', file, '--format', 'dot')).stdout).toContain('"train" -> "score[ckpt=4]";');
  });

  it('keeps Mermaid and Graphviz behind --format', async () => {
    const file = ws.recipe('sweep.yml', SWEEP);
    expect((await ws.flow('dag', file, '--format', 'mermaid')).stdout).toMatch(/^graph TD\n/);
    expect((await ws.flow('dag', file, '--format', 'dot')).stdout).toMatch(/^digraph "sweep" \{\n/);
    const bad = await ws.flow('dag', file, '--format', 'svg');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: option '--format <format>' argument 'svg' is invalid\. Allowed choices are tree, mermaid, dot\.$/);
  });
});

describe('flow log of a step that did not run', () => {
  const ws = workspace();
  let runId = '';
  beforeAll(async () => {
    const r = await ws.flow('run', ws.recipe('sweep.yml', FAILING), '--ui', 'plain');
    expect(r.code).toBe(1);
    runId = (await ws.flow('status', 'last')).stdout.split(/\s+/)[1]!;
  });

  it('a step skipped after a failure says so in one line, exit 1', async () => {
    const r = await ws.flow('log', 'last', 'merge[rank=16]');
    expect(r).toEqual({ code: 1, stdout: '', stderr: `step merge[rank=16] did not start in run ${runId}: skipped because train[rank=16] failed` });
    // Further down, the failed step is named, not the skipped one in between.
    expect((await ws.flow('log', runId.slice(0, 17), 'eval[rank=16]')).stderr).toBe(
      `step eval[rank=16] did not start in run ${runId}: skipped because train[rank=16] failed`,
    );
  });

  it('a step that ran prints its log, a failed one too', async () => {
    const failed = await ws.flow('log', 'last', 'train[rank=16]');
    expect(failed.code).toBe(0);
    expect(failed.stdout).toContain('rank too big');
    const r = await ws.flow('log', 'last', 'data');
    expect(r.code).toBe(0);
  });

  it('a name the recipe does not have is a usage error with "did you mean", exit 2', async () => {
    const r = await ws.flow('log', 'last', 'mrege');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'error: no step "mrege" in recipe sweep (steps: data, train[rank=8], train[rank=16], merge[rank=8], merge[rank=16], eval[rank=8], eval[rank=16]); did you mean "merge"?',
    );
    const bare = await ws.flow('log', 'last', 'merge');
    expect(bare).toMatchObject({ code: 2, stderr: `error: step "merge" has 2 instances in run ${runId}: name one of merge[rank=8], merge[rank=16]` });
  });

  it('a step the run left out with --only says so', async () => {
    await ws.flow('run', join(ws.dir, 'sweep.yml'), '--ui', 'plain', '--only', 'data');
    const r = await ws.flow('log', 'last', 'merge[rank=8]');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^step merge\[rank=8\] did not start in run \S+: the run's --only\/--from\/--until left it out$/);
  });
});

/** One eval step whose metrics.json is shaped as sql-eval's: figures beside the settings that made them. */
const EVAL = `name: ev
params:
  easy: 0.5
  plug: false
steps:
  eval:
    run: >-
      printf '{"ex":{"easy":%s,"all":0.4},"count":{"all":10},"plug_value":%s,"keep_distinct":false,"etype":"all",
      "settings":{"decoding":{"num_beams":1,"do_sample":false}}}' \${params.easy} \${params.plug} > metrics.json
    outputs: { metrics: metrics.json }
`;

describe('flow metrics diff', () => {
  const ws = workspace();
  const ids: string[] = [];
  beforeAll(async () => {
    const file = ws.recipe('ev.yml', EVAL);
    for (const sets of [[], ['--set', 'easy=0.7', '--set', 'plug=true']]) {
      expect((await ws.flow('run', file, '--ui', 'plain', ...sets)).code).toBe(0);
      ids.push((await ws.flow('status', 'last')).stdout.split(/\s+/)[1]!);
    }
  });

  it('shows the rows that changed; --all shows every metric', async () => {
    const r = await ws.flow('metrics', 'diff', ids[0]!, ids[1]!);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^step metric +${ids[0]} +${ids[1]} +delta$`)),
      expect.stringMatching(/^eval ex\.easy +0\.5000 +0\.7000 +\+0\.2000$/),
    ]);
    const all = await ws.flow('metrics', 'diff', ids[0]!, ids[1]!, '--all');
    expect(all.stdout.split('\n').slice(1).map((l) => l.split(/ +/)[1])).toEqual(['ex.easy', 'ex.all', 'count.all']);
  });

  it('never lists a setting (plug_value, keep_distinct, etype, settings.*) as a metric, even one that changed', async () => {
    const all = await ws.flow('metrics', 'diff', ids[0]!, ids[1]!, '--all', '--format', 'json');
    const metrics = (JSON.parse(all.stdout) as { rows: Array<{ metric: string }> }).rows.map((r) => r.metric);
    expect(metrics).toEqual(['ex.easy', 'ex.all', 'count.all']);
    // Nor does the store keep them as metric rows.
    const db = ws.db();
    const names = db.prepare('SELECT DISTINCT name FROM metrics ORDER BY name').all().map((r) => (r as { name: string }).name);
    db.close();
    expect(names).toEqual(['count.all', 'duration_ms', 'ex.all', 'ex.easy']);
  });

  it('says so when nothing changed', async () => {
    const r = await ws.flow('metrics', 'diff', ids[1]!, ids[1]!);
    expect(r).toMatchObject({ code: 0, stdout: `no metric changed between ${ids[1]} and ${ids[1]} (3 compared; --all lists them)` });
  });
});

describe('flow plot / flow report without a run', () => {
  const ws = workspace();
  let done = '';
  beforeAll(async () => {
    expect((await ws.flow('run', ws.recipe('ev.yml', EVAL), '--ui', 'plain')).code).toBe(0);
    done = (await ws.flow('status', 'last')).stdout.split(/\s+/)[1]!;
    expect((await ws.flow('run', ws.recipe('fail.yml', 'name: fail\nsteps:\n  a:\n    run: exit 1\n'), '--ui', 'plain')).code).toBe(1);
    // Two newer runs that did not finish: one whose flow process died, one still running (this process).
    const db = ws.db();
    const insert = db.prepare("INSERT INTO runs (id, recipe, name, status, started_at, params, argv, pid) VALUES (?, 'x.yml', 'x', 'running', ?, '{}', '[]', ?)");
    insert.run('29990101T000000-dead00', Date.now() + 1000, 2 ** 22 + 12345);
    insert.run('29990101T000001-live00', Date.now() + 2000, process.pid);
    db.close();
  });

  it('report takes the newest finished run and says which, and what it passed over', async () => {
    const r = await ws.flow('report');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([join(ws.dir, 'cache', 'reports', done, 'report.html'), join(ws.dir, 'cache', 'reports', done, 'report.md')]);
    expect(r.stderr).toMatch(
      new RegExp(`^reporting run ${done} \\(ev\\), the newest finished run; passed over newer 29990101T000001-live00 \\(running\\), 29990101T000000-dead00 \\(crashed\\), \\S+ \\(failed\\)$`),
    );
  });

  it('plot too; a named run is used as named', async () => {
    const r = await ws.flow('plot');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^plotting run ${done} \\(ev\\), the newest finished run;`));
    expect(r.stdout).toContain(join('reports', done, 'ex-by-hardness.svg'));
    const named = await ws.flow('report', 'last');
    expect(named.stderr).toBe('');
    expect(named.stdout).toContain(join('reports', '29990101T000001-live00', 'report.html'));
  });
});
