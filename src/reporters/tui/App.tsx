// The ink component tree. Every pane is a list of pre-formatted, width-truncated
// lines whose count is decided here, so a frame never grows past the terminal's
// height (ink would otherwise clear and redraw the whole screen each frame).

import { Box, Text, useInput, useStdin, useStdout } from 'ink';
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { TuiController } from './controller.js';
import { fit, formatDuration, sanitizeLogLine } from './format.js';
import { stepRowText, statusColor, tableHeader, type RowLayout } from './step-row.js';
import { summaryLines } from './summary.js';

function Lines({ lines }: { lines: string[] }) {
  return (
    <Box flexDirection="column">
      {lines.map((line, i) => (
        // Ink gives an empty Text no height; a space keeps blank lines.
        <Text key={i} wrap="truncate-end">
          {line === '' ? ' ' : line}
        </Text>
      ))}
    </Box>
  );
}

function rule(title: string, columns: number): string {
  const head = `── ${title} `;
  return head + '─'.repeat(Math.max(0, columns - head.length));
}

function Header({ ctl }: { ctl: TuiController }) {
  const { run, chalk: c } = ctl;
  const status = run.end ? run.end.status : run.started ? 'running' : 'starting';
  const elapsed = run.end
    ? run.end.durationMs
    : run.startTime !== undefined
      ? ctl.now() - run.startTime
      : undefined;
  const rows = [...run.steps.values()];
  const finished = rows.filter((r) => ['done', 'cached', 'failed', 'cancelled', 'skipped'].includes(r.status)).length;
  const cached = rows.filter((r) => r.status === 'cached').length;
  const running = rows.filter((r) => r.status === 'running').length;
  const line =
    `${c.bold('flow')} ${run.name || run.recipe || ''}  ` +
    statusColor(c, status === 'starting' ? 'starting' : status)(status) +
    (elapsed !== undefined ? `  ${formatDuration(elapsed)}` : '') +
    `  ${finished}/${rows.length} steps finished · ${running} running · ${cached} cached`;
  return <Lines lines={[line]} />;
}

function StepTable({ ctl, height, layout }: { ctl: TuiController; height: number; layout: RowLayout }) {
  const { run, chalk: c } = ctl;
  const order = run.order;
  const sel = Math.max(0, ctl.selectedId ? order.indexOf(ctl.selectedId) : 0);
  // Scroll so the selected row stays in view when there are more steps than rows.
  const first = Math.min(Math.max(0, sel - Math.floor(height / 2)), Math.max(0, order.length - height));
  const now = ctl.now();
  const lines = [c.dim(tableHeader(layout))];
  for (const id of order.slice(first, first + height)) {
    lines.push(stepRowText(c, run.row(id)!, id === ctl.selectedId, now, layout));
  }
  return <Lines lines={lines} />;
}

function LogPane({ ctl, height, columns }: { ctl: TuiController; height: number; columns: number }) {
  const { chalk: c } = ctl;
  const row = ctl.selectedId ? ctl.run.row(ctl.selectedId) : undefined;
  if (!row) return <Lines lines={[c.dim(rule('log', columns))]} />;
  const title = `log: ${row.info.id} · ${row.log.total} lines${row.logPath ? ' · ' + row.logPath : ''}`;
  const tail = row.log.last(height);
  const lines = [c.dim(rule(title, columns))];
  if (tail.length === 0 && height > 0) {
    lines.push(c.dim(row.status === 'cached' ? '(cached: the step did not run)' : '(no output yet)'));
  }
  for (const l of tail) {
    const text = sanitizeLogLine(l.text);
    lines.push(l.stream === 'stderr' ? c.yellow(text) : text);
  }
  return <Lines lines={lines} />;
}

const MAIN_KEYS = '↑↓/jk select · enter/l full log · r re-run · c cancel · q quit · ? help';

function Footer({ ctl, keys }: { ctl: TuiController; keys: string }) {
  const { chalk: c } = ctl;
  let status = '';
  if (ctl.prompt === 'cancel') status = c.yellow.bold('Cancel the run? [y/N]');
  else if (ctl.prompt === 'quit') status = c.yellow.bold('A run is active. Cancel it and quit? [y/N]');
  else if (ctl.notice) status = c.yellow(ctl.notice);
  else if (ctl.run.warnings.length) status = c.yellow(`⚠ ${ctl.run.warnings[ctl.run.warnings.length - 1]}`);
  else if (ctl.run.end) status = 'Run finished: r re-runs the selected step, q quits.';
  return <Lines lines={[status, c.dim(keys)]} />;
}

function MainView({ ctl }: { ctl: TuiController }) {
  const { columns, rows } = ctl.viewport;
  const ids = ctl.run.order;
  const gpuWidth = Math.max(0, ...[...ctl.run.steps.values()].map((r) => (r.info.gpus > 0 ? Math.max(3, r.gpus.join(',').length) : 0)));
  const layout: RowLayout = {
    columns,
    gpuWidth,
    idWidth: Math.min(Math.max(8, ...ids.map((id) => id.length)), Math.max(12, Math.floor(columns / 4))),
  };
  const summary = summaryLines(ctl.chalk, ctl.run);
  // Rows: header, table head, steps, [summary rule + summary], log rule, log, 2 footer;
  // one spare row so the frame never reaches the terminal's height.
  let budget = rows - 1 - 1 - 1 - 1 - 2;
  const minLog = 3;
  const stepsShown = Math.min(ids.length, Math.max(3, budget - (summary.length ? summary.length + 1 : 0) - minLog));
  budget -= stepsShown;
  const summaryShown = summary.length ? Math.min(summary.length, Math.max(0, budget - 1 - minLog)) : 0;
  if (summaryShown > 0) budget -= summaryShown + 1;
  const logShown = Math.max(0, budget);
  return (
    <Box flexDirection="column">
      <Header ctl={ctl} />
      <StepTable ctl={ctl} height={stepsShown} layout={layout} />
      {summaryShown > 0 && <Lines lines={[ctl.chalk.dim(rule('summary', columns)), ...summary.slice(0, summaryShown)]} />}
      <LogPane ctl={ctl} height={logShown} columns={columns} />
      <Footer ctl={ctl} keys={MAIN_KEYS} />
    </Box>
  );
}

function LogView({ ctl }: { ctl: TuiController }) {
  const lv = ctl.logView!;
  const { chalk: c } = ctl;
  const page = ctl.logPageSize();
  const shown = lv.lines.slice(lv.top, lv.top + page);
  const range = lv.lines.length ? `lines ${lv.top + 1}-${lv.top + shown.length} of ${lv.lines.length}` : 'empty';
  const status = ctl.run.row(lv.step)?.status ?? '';
  const title = `${lv.step} · full log · ${range}${lv.follow ? ' · following' : ''} · ${status}`;
  return (
    <Box flexDirection="column">
      <Lines lines={[c.bold(rule(title, ctl.viewport.columns)), lv.note ? c.dim(lv.note) : '']} />
      <Lines lines={shown} />
      <Footer ctl={ctl} keys="↑↓/jk scroll · PgUp/PgDn/b/space page · g/G top/end · esc/q back" />
    </Box>
  );
}

const HELP: Array<[string, string]> = [
  ['↑ ↓  k j', 'select a step'],
  ['g G', 'first / last step'],
  ['enter  l', "open the selected step's full log (esc or q to go back)"],
  ['r', 're-run the selected step and what depends on it (after the current run)'],
  ['c', 'cancel the run (asks first)'],
  ['q', 'quit (asks first while a run is active); ctrl-c quits at once'],
  ['?', 'this help'],
];

function Help({ ctl }: { ctl: TuiController }) {
  const { chalk: c } = ctl;
  const lines = [
    c.bold(rule('keys', ctl.viewport.columns)),
    ...HELP.map(([k, what]) => `  ${c.bold(fit(k, 10))} ${what}`),
    '',
    c.dim('Step rows: status, elapsed time, cache hit/miss, GPU ids, then progress (rate, ETA, loss sparkline).'),
    c.dim('press any key to close'),
  ];
  return <Lines lines={lines} />;
}

export function TuiApp({ ctl }: { ctl: TuiController }) {
  useSyncExternalStore(ctl.subscribe, ctl.getVersion);
  const { stdout } = useStdout();
  const { isRawModeSupported } = useStdin();
  const [size, setSize] = useState(() => ({ columns: stdout.columns || 100, rows: stdout.rows || 30 }));
  useEffect(() => {
    const onResize = () => setSize({ columns: stdout.columns || 100, rows: stdout.rows || 30 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  useInput((input, key) => ctl.handleInput(input, key), { isActive: isRawModeSupported === true });
  ctl.viewport = size;
  if (ctl.view === 'help') return <Help ctl={ctl} />;
  if (ctl.view === 'log' && ctl.logView) return <LogView ctl={ctl} />;
  return <MainView ctl={ctl} />;
}
