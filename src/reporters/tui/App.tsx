// The ink component tree. Every pane is a list of pre-formatted, width-truncated
// lines whose count is decided here, so a frame never grows past the terminal's
// height (ink would otherwise clear and redraw the whole screen each frame).

import { Box, Text, useInput, useStdin, useStdout } from 'ink';
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { TuiController } from './controller.js';
import { fit, sanitizeLogLine } from './format.js';
import { colorLine } from './failure.js';
import { headerLines, previousRunLines, rowLayout, tableLines } from './layout.js';
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

function LogPane({ ctl, height, columns }: { ctl: TuiController; height: number; columns: number }) {
  const { chalk: c } = ctl;
  const row = ctl.selectedId ? ctl.run.row(ctl.selectedId) : undefined;
  if (!row) return <Lines lines={[c.dim(rule('log', columns))]} />;
  const title = `log: ${row.info.id} · ${row.log.total} lines${row.logPath ? ' · ' + row.logPath : ''}`;
  const tail = row.log.last(height);
  const lines = [c.dim(rule(title, columns))];
  if (tail.length === 0 && height > 0) {
    const finished = ['done', 'failed', 'cancelled', 'skipped'].includes(row.status);
    lines.push(c.dim(row.status === 'cached' ? '(cached: the step did not run)' : finished ? '(no output)' : '(no output yet)'));
  }
  for (const l of tail) lines.push(colorLine(c, sanitizeLogLine(l.text)));
  return <Lines lines={lines} />;
}

function mainKeys(ctl: TuiController): string {
  const keys = ['↑↓/jk select', 'enter/l full log'];
  if (!ctl.readOnly) keys.push('r re-run', 'c cancel');
  if (ctl.runActive) keys.push(ctl.stay ? 's quit at end' : 's stay open');
  keys.push('q quit', '? help');
  return keys.join(' · ');
}

function Footer({ ctl, keys }: { ctl: TuiController; keys: string }) {
  const { chalk: c } = ctl;
  const said: string[] = [];
  if (ctl.prompt === 'cancel') said.push(c.yellow.bold('Cancel the run? [y/N]'));
  else if (ctl.prompt === 'quit') said.push(c.yellow.bold('A run is active. Cancel it and quit? [y/N]'));
  else if (ctl.prompt === 'search') said.push(c.bold(`/${ctl.searchInput}▏`));
  else if (ctl.notice) said.push(c.yellow(ctl.notice));
  else if (ctl.run.warnings.length) said.push(c.yellow(`⚠ ${ctl.run.warnings[ctl.run.warnings.length - 1]}`));
  else if (ctl.run.end) said.push(ctl.readOnly ? 'Run finished: q quits.' : 'Run finished: r re-runs the selected step, q quits.');
  const queued = ctl.queuedNotice();
  if (queued) said.unshift(c.yellow.bold(queued));
  return <Lines lines={[said.join(' · '), c.dim(keys)]} />;
}

function MainView({ ctl }: { ctl: TuiController }) {
  const { columns, rows } = ctl.viewport;
  const ids = ctl.run.order;
  const layout = rowLayout(ctl);
  const header = headerLines(ctl);
  const earlier = previousRunLines(ctl).slice(-2);
  const summary = summaryLines(ctl.chalk, ctl.run, { columns, labels: layout.labels });
  // Rows: header, earlier runs, table head, steps, [summary rule + summary], log rule, log, 2 footer;
  // one spare row so the frame never reaches the terminal's height.
  let budget = rows - 1 - header.length - earlier.length - 1 - 1 - 2;
  const minLog = 3;
  const stepsShown = Math.min(ids.length, Math.max(3, budget - (summary.length ? summary.length + 1 : 0) - minLog));
  budget -= stepsShown;
  const summaryShown = summary.length ? Math.min(summary.length, Math.max(0, budget - 1 - minLog)) : 0;
  if (summaryShown > 0) budget -= summaryShown + 1;
  const logShown = Math.max(0, budget);
  return (
    <Box flexDirection="column">
      <Lines lines={[...header, ...earlier]} />
      <Lines lines={tableLines(ctl, stepsShown, layout)} />
      {summaryShown > 0 && <Lines lines={[ctl.chalk.dim(rule('summary', columns)), ...summary.slice(0, summaryShown)]} />}
      <LogPane ctl={ctl} height={logShown} columns={columns} />
      <Footer ctl={ctl} keys={mainKeys(ctl)} />
    </Box>
  );
}

function LogView({ ctl }: { ctl: TuiController }) {
  const lv = ctl.logView!;
  const { chalk: c } = ctl;
  const page = ctl.logPageSize();
  const all = ctl.logDisplayLines();
  const shown = all.slice(lv.top, lv.top + page).map((line, i) => {
    const at = lv.top + i;
    if (lv.query && at === lv.match) return c.inverse(line);
    return colorLine(c, line);
  });
  const range = all.length ? `lines ${lv.top + 1}-${lv.top + shown.length} of ${all.length}` : 'empty';
  const status = ctl.run.row(lv.step)?.status ?? '';
  const title = `${lv.step} · full log · ${range}${lv.follow ? ' · following' : ''} · ${status}${lv.wrap ? ' · wrap' : ''}`;
  return (
    <Box flexDirection="column">
      <Lines lines={[c.bold(rule(title, ctl.viewport.columns)), lv.note ? c.dim(lv.note) : '']} />
      <Lines lines={shown} />
      <Footer ctl={ctl} keys="↑↓/jk scroll · PgUp/PgDn/b/space page · g/G top/end · w wrap · / search · n/N next/prev · esc/q back" />
    </Box>
  );
}

const HELP: Array<[string, string]> = [
  ['↑ ↓  k j', 'select a step'],
  ['g G', 'first / last step'],
  ['enter  l', "open the selected step's full log (esc or q to go back)"],
  ['w  /  n N', 'in the full log: wrap long lines, search, next / previous match'],
  ['r', 're-run the selected step and what depends on it (after the current run)'],
  ['c', 'cancel the run (asks first)'],
  ['s', 'stay open when the run ends (by default flow exits and leaves the last frame)'],
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
  useInput((input, key) => ctl.handleInput(input, key), { isActive: isRawModeSupported === true && ctl.view !== 'closed' });
  ctl.viewport = size;
  // Closing: the live frame is erased and the reporter prints the final frames as plain text.
  if (ctl.view === 'closed') return null;
  if (ctl.view === 'help') return <Help ctl={ctl} />;
  if (ctl.view === 'log' && ctl.logView) return <LogView ctl={ctl} />;
  return <MainView ctl={ctl} />;
}
