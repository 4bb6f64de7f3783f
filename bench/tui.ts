// Benchmark: a step printing 10,000 log lines a second for 10 s under the TUI.
// Each scenario runs in its own process inside a pseudo-terminal (`script`), so
// ink renders to a real TTY and the figures are that process's alone:
//   tui-flood   the TUI reporter fed 10k step-log events/s (plus progress)
//   tui-idle    baseline: the TUI with progress events only, no log traffic
//   plain-flood baseline: the plain reporter printing the same log traffic
// and, when the CLI is built, the same through `flow run` with a real shell step
// (CPU and peak RSS of the flow process read from /proc; frames counted in the
// terminal output).
// Usage: npm run build && node dist/bench/tui.js [seconds]

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineEvent, Reporter } from '../src/events.js';

const LINES_PER_S = 10_000;

/** An event as the bench writes it; runId and time are filled in on emit. */
type Bare = EngineEvent extends infer E ? (E extends EngineEvent ? Omit<E, 'runId' | 'time'> : never) : never;
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');

interface Figures {
  scenario: string;
  seconds: number;
  lines: number;
  frames?: number;
  cpuSeconds: number;
  peakRssMb: number;
  /** RSS after the first and the last second of log traffic: flat memory means these stay close. */
  rssStartMb?: number;
  rssEndMb?: number;
}

// ---------------------------------------------------------------- inner side

async function inner(scenario: string, seconds: number, outFile: string): Promise<void> {
  let frames = 0;
  const flood = scenario !== 'tui-idle';
  let reporter: Reporter;
  if (scenario === 'plain-flood') {
    const { createPlainReporter } = await import('../src/reporters/plain.js');
    reporter = createPlainReporter({ color: true });
  } else {
    const { createTuiReporter } = await import('../src/reporters/tui/index.js');
    reporter = createTuiReporter({ control: { cancel: () => {} }, color: true, onFrame: () => void frames++ });
  }
  const runId = 'bench';
  const t0 = Date.now();
  const ev = (e: Bare) => reporter.onEvent({ ...e, runId, time: Date.now() } as EngineEvent);
  const steps = ['data', 'train', 'eval'].map((id, i) => ({ id, type: 'run', needs: i ? ['data'] : [], gpus: id === 'train' ? 1 : 0 }));
  ev({ type: 'run-start', recipe: 'bench.yml', name: 'tui-bench', steps });
  ev({ type: 'step-cached', step: 'data', key: 'k', savedMs: 60_000, outputs: {} });
  ev({ type: 'step-start', step: 'train', key: 'k2', execId: 'e', reasons: [], gpus: [0], logPath: join(tmpdir(), 'flow-bench-none.log') });

  const cpu0 = process.cpuUsage();
  let rssStart = 0;
  let lines = 0;
  const total = seconds * LINES_PER_S;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const elapsed = Date.now() - t0;
      // Catch up to the rate however late the timer fires.
      const due = Math.min(total, Math.floor((elapsed / 1000) * LINES_PER_S));
      if (flood) {
        for (; lines < due; lines++) {
          ev({ type: 'step-log', step: 'train', stream: 'stdout', line: `step ${lines} {'loss': ${(1 / (1 + lines / 5000)).toFixed(4)}, 'lr': 0.0002}` });
        }
      } else lines = due;
      if (!rssStart && Date.now() - t0 >= 1000) rssStart = process.memoryUsage().rss;
      ev({ type: 'step-progress', step: 'train', progress: { current: lines, total, unit: 'lines', values: { loss: 1 / (1 + lines / 5000) } } });
      if (lines >= total) {
        clearInterval(timer);
        done();
      }
    }, 10);
  });
  const cpu = process.cpuUsage(cpu0);
  const rssEnd = process.memoryUsage().rss;
  ev({ type: 'step-done', step: 'train', key: 'k2', durationMs: Date.now() - t0, outputs: {} });
  ev({ type: 'step-skipped', step: 'eval', reason: 'bench' });
  ev({ type: 'run-end', status: 'done', durationMs: Date.now() - t0, savedMs: 60_000, counts: { done: 1, cached: 1, failed: 0, cancelled: 0, skipped: 1 } });
  await reporter.close();
  const figures: Figures = {
    scenario,
    seconds: (Date.now() - t0) / 1000,
    lines: flood ? lines : 0,
    frames: scenario === 'plain-flood' ? undefined : frames,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    rssStartMb: rssStart / 2 ** 20,
    rssEndMb: rssEnd / 2 ** 20,
  };
  writeFileSync(outFile, JSON.stringify(figures));
}

// ---------------------------------------------------------------- outer side

/**
 * Runs `command` in a 120x40 pseudo-terminal and resolves with all it wrote.
 * `onPid` gets the command's pid; `quitWhen`: type q once the output shows it.
 */
function inPty(command: string, onPid?: (pid: number) => void, quitWhen?: string): Promise<string> {
  return new Promise((done, fail) => {
    // `exec` makes the measured program the shell's direct replacement, so its pid is the script child's.
    const child = spawn('script', ['-qfec', `stty cols 120 rows 40; exec ${command}`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, TERM: 'xterm-256color', FORCE_COLOR: '1' },
    });
    let out = '';
    let quitSent = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (quitWhen && !quitSent && out.includes(quitWhen)) {
        quitSent = true;
        child.stdin.write('q');
      }
    });
    child.on('error', fail);
    child.on('exit', () => done(out));
    if (onPid) {
      const poll = setInterval(() => {
        const kids = readChildren(child.pid!);
        if (kids.length) {
          clearInterval(poll);
          onPid(kids[0]!);
        }
      }, 20);
      child.on('exit', () => clearInterval(poll));
    }
  });
}

function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds and peak RSS of a live process, sampled until it exits. */
function watchProcess(pid: number): { stop: () => { cpuSeconds: number; peakRssMb: number } } {
  let cpuSeconds = 0;
  let peakRssMb = 0;
  const tick = 100 / 1000;
  const sample = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100; // utime+stime in clock ticks (USER_HZ=100)
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (hwm) peakRssMb = Number(hwm[1]) / 1024;
    } catch {
      // The process is gone: keep the last sample.
    }
  };
  const timer = setInterval(sample, tick * 1000);
  return {
    stop: () => {
      clearInterval(timer);
      return { cpuSeconds, peakRssMb };
    },
  };
}

async function runInner(scenario: string, seconds: number, dir: string): Promise<Figures> {
  const out = join(dir, `${scenario}.json`);
  await inPty(`node ${JSON.stringify(fileURLToPath(import.meta.url))} --inner ${scenario} ${seconds} ${JSON.stringify(out)}`);
  return JSON.parse(readFileSync(out, 'utf8')) as Figures;
}

async function runCli(ui: 'tui' | 'plain', seconds: number, dir: string): Promise<Figures> {
  const recipe = join(dir, `bench-${ui}.yml`);
  // Prints 10,000 lines a second in 100-line bursts every 10 ms, for `seconds`.
  const printer = `let n=0;const t0=Date.now();const end=${seconds * LINES_PER_S};const tm=setInterval(()=>{const due=Math.min(end,Math.floor((Date.now()-t0)*${LINES_PER_S / 1000}));let s='';for(;n<due;n++)s+='line '+n+' of the flood\\n';process.stdout.write(s);if(n>=end){clearInterval(tm)}},10)`;
  writeFileSync(join(dir, 'printer.js'), printer);
  writeFileSync(
    recipe,
    [
      'name: tui-bench',
      'steps:',
      '  flood:',
      `    run: node ${join(dir, 'printer.js')}; echo done > out.txt`,
      '    outputs: { out: out.txt }',
      '',
    ].join('\n'),
  );
  const cache = mkdtempSync(join(dir, `cache-${ui}-`));
  let watch: ReturnType<typeof watchProcess> | undefined;
  const t0 = Date.now();
  const flow = join(root, 'bin', 'flow.js');
  const output = await inPty(
    `node ${flow} run ${recipe} --ui ${ui} --cache-dir ${cache}`,
    (pid) => (watch = watchProcess(pid)),
    ui === 'tui' ? 'Run finished' : undefined,
  );
  const res = watch?.stop() ?? { cpuSeconds: NaN, peakRssMb: NaN };
  return {
    scenario: `cli-${ui}`,
    seconds: (Date.now() - t0) / 1000,
    lines: seconds * LINES_PER_S,
    frames: ui === 'tui' ? output.split('── log: ').length - 1 : undefined,
    ...res,
  };
}

function table(rows: Figures[]): string {
  const head = ['scenario', 'wall s', 'log lines/s', 'frames/s', 'CPU share', 'peak RSS MB', 'RSS 1s→end MB'];
  const body = rows.map((r) => [
    r.scenario,
    r.seconds.toFixed(1),
    r.lines ? Math.round(r.lines / r.seconds).toString() : '0',
    r.frames === undefined ? '-' : (r.frames / r.seconds).toFixed(1),
    `${((r.cpuSeconds / r.seconds) * 100).toFixed(0)}%`,
    r.peakRssMb.toFixed(0),
    r.rssStartMb === undefined ? '-' : `${r.rssStartMb.toFixed(0)}→${r.rssEndMb!.toFixed(0)}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

async function outer(seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flow-tui-bench-'));
  const rows: Figures[] = [];
  for (const s of ['tui-idle', 'tui-flood', 'plain-flood']) rows.push(await runInner(s, seconds, dir));
  const cliBuilt = existsSync(join(root, 'dist', 'src', 'cli', 'main.js'));
  if (cliBuilt) {
    rows.push(await runCli('plain', seconds, dir));
    rows.push(await runCli('tui', seconds, dir));
  }
  console.log(`TUI under ${LINES_PER_S} log lines/s for ${seconds}s, 120x40 pseudo-terminal (script), node ${process.version}`);
  console.log(table(rows));
  if (!cliBuilt) console.log('(CLI not built: the flow-process rows were skipped)');
}

const args = process.argv.slice(2);
if (args[0] === '--inner') await inner(args[1]!, Number(args[2]), args[3]!);
else await outer(Number(args[0] ?? 10));
