// What a failed step says about itself, in the row, the summary and the final
// frame: one headline ("exit 1", or the error when it says more), the last
// lines it wrote to stderr, and where its full log is.

import type { ChalkInstance } from 'chalk';
import type { LogLine, StepRow } from './state.js';
import { sanitizeLogLine } from './format.js';

/** The part of an error that only restates the exit code ("command exited with code 1: "). */
const EXIT_PREFIX = /^(command )?exited with (code )?-?\d+\.?(:\s*)?/i;
const SAYS_EXIT = /exited with (code )?-?\d+/i;

/** "exit 1", or "exit 1 · <what the error adds>": the exit code is said once. */
export function failureHeadline(r: StepRow): string {
  const error = (r.error ?? '').split('\n')[0]!.trim();
  const exit = r.exitCode !== undefined && r.exitCode !== null ? `exit ${r.exitCode}` : '';
  if (!exit) return error || 'failed';
  const rest = error.replace(EXIT_PREFIX, '').trim();
  if (!rest) return exit;
  // An error that names the exit itself ("train.py exited with 1: ...") is already complete.
  return SAYS_EXIT.test(rest) ? rest : `${exit} · ${rest}`;
}

/** The step's last `n` non-empty stderr lines; its last output lines when it wrote nothing to stderr. */
export function lastErrorLines(r: StepRow, n: number): string[] {
  const tail = r.log.last(r.log.capacity);
  const pick = (lines: LogLine[]) =>
    lines
      .map((l) => sanitizeLogLine(l.text))
      .filter((t) => t.trim() !== '')
      .slice(-n);
  const err = pick(tail.filter((l) => l.stream === 'stderr'));
  return err.length ? err : pick(tail);
}

export type LineKind = 'error' | 'warning' | undefined;

const ERROR_LINE = /(error|exception)\b|\b(traceback|fatal|failed|panic)\b/i;
const WARNING_LINE = /warn(ing)?s?\b|deprecat/i;

/** Error lines show red and warnings yellow, whichever stream they came on. */
export function lineKind(text: string): LineKind {
  if (ERROR_LINE.test(text)) return 'error';
  if (WARNING_LINE.test(text)) return 'warning';
  return undefined;
}

export function colorLine(c: ChalkInstance, text: string): string {
  const kind = lineKind(text);
  return kind === 'error' ? c.red(text) : kind === 'warning' ? c.yellow(text) : text;
}
