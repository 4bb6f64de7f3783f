// The TUI's full-log view as a pager of its own: reads a step's log (or the lines received
// when there is no file), wraps long lines, scrolls, follows a growing log like `tail -f`,
// and searches with / n N. The controller owns one while the view is open and hands it keys.

import type { KeyInput } from './key-input.js';
import { sanitizeLogLine } from './format.js';
import { readLogFile } from './log-file.js';
import type { StepRow } from './state.js';

export interface LogViewState {
  step: string;
  lines: string[];
  top: number;
  /** Stick to the end of the log as it grows (like `tail -f`). */
  follow: boolean;
  note?: string;
  /** Long lines wrap onto several rows (w toggles); off, they are cut at the edge. */
  wrap: boolean;
  /** The text searched for with / (n and N jump between matches). */
  query?: string;
  /** Display line holding the current match. */
  match?: number;
}

/** What a key asks of the controller: close the view, start a search prompt, or show a notice. */
export type PagerAction = { type: 'close' } | { type: 'search' } | { type: 'notice'; text: string | undefined } | undefined;

/** Terminal rows the full-log view spends on its header and footer. */
const LOG_VIEW_CHROME = 3;

export class LogPager {
  readonly state: LogViewState;
  private wrapped?: { lines: string[]; width: number; out: string[] };

  /** `viewport`: the terminal's size now (it changes while the view is open). */
  constructor(step: string, private readonly viewport: () => { columns: number; rows: number }) {
    this.state = { step, lines: [], top: 0, follow: true, wrap: true };
  }

  /** Rows of log text the view shows at once. */
  pageSize(): number {
    return Math.max(1, this.viewport().rows - 1 - LOG_VIEW_CHROME);
  }

  private width(): number {
    return Math.max(10, this.viewport().columns);
  }

  /** The log as shown: one row per line, or several per long line when wrapping. */
  displayLines(): string[] {
    const lv = this.state;
    if (!lv.wrap) return lv.lines;
    const width = this.width();
    const w = this.wrapped;
    if (w && w.lines === lv.lines && w.width === width) return w.out;
    const out: string[] = [];
    for (const line of lv.lines) {
      if (line.length <= width) out.push(line);
      else for (let i = 0; i < line.length; i += width) out.push(line.slice(i, i + width));
    }
    this.wrapped = { lines: lv.lines, width, out };
    return out;
  }

  /** (Re)reads the step's log file; the in-memory tail stands in when there is no file. */
  load(row: StepRow | undefined, toEnd: boolean): void {
    const lv = this.state;
    const tail = () => (row ? row.log.last(row.log.capacity).map((l) => sanitizeLogLine(l.text)) : []);
    if (row?.logPath) {
      try {
        const content = readLogFile(row.logPath);
        lv.lines = content.lines;
        lv.note = content.truncated ? 'start of a very large log left out' : undefined;
      } catch (err) {
        lv.lines = tail();
        lv.note = `cannot read ${row.logPath} (${(err as NodeJS.ErrnoException).code ?? String(err)}); showing the last lines received`;
      }
    } else {
      lv.lines = tail();
      lv.note =
        row?.status === 'cached' ? 'cached in this run: no log was written' : 'no log file yet; showing the lines received';
    }
    this.scrollTo(toEnd ? Infinity : lv.top);
  }

  private scrollTo(top: number): void {
    const lv = this.state;
    const bottom = Math.max(0, this.displayLines().length - this.pageSize());
    lv.top = Math.min(bottom, Math.max(0, top));
    lv.follow = lv.top === bottom;
  }

  /** A key in the view; `row` is the step's row, re-read when the key goes to the end. */
  keys(input: string, key: KeyInput, row: StepRow | undefined): PagerAction {
    const lv = this.state;
    if (key.escape || key.leftArrow || key.return || input === 'q' || input === 'h' || input === 'l') return { type: 'close' };
    // Going to the end re-reads the file: it is also the way to catch up at once.
    if (key.end || input === 'G') return void this.load(row, true);
    if (input === 'w') {
      // Keep the first line on screen in view across the change of layout.
      const first = this.sourceLineAt(lv.top);
      lv.wrap = !lv.wrap;
      return void this.scrollTo(this.displayLineOf(first));
    }
    if (input === '/') return { type: 'search' };
    if (input === 'n' || input === 'N') return this.findNext(input === 'n' ? 1 : -1);
    const page = this.pageSize();
    let top = lv.top;
    if (key.upArrow || input === 'k') top -= 1;
    else if (key.downArrow || input === 'j') top += 1;
    else if (key.pageUp || input === 'b') top -= page;
    else if (key.pageDown || input === ' ') top += page;
    else if (key.home || input === 'g') top = 0;
    else return undefined;
    this.scrollTo(top);
    return undefined;
  }

  /** Searches for `query` from the top of the page. */
  search(query: string): PagerAction {
    this.state.query = query;
    this.state.match = undefined;
    return this.findNext(1);
  }

  /** Moves to the next (or previous) display line containing the query, wrapping around the log. */
  private findNext(dir: 1 | -1): PagerAction {
    const lv = this.state;
    if (!lv.query) return undefined;
    const lines = this.displayLines();
    const q = lv.query.toLowerCase();
    const from = lv.match ?? (dir === 1 ? lv.top - 1 : lv.top + this.pageSize());
    for (let k = 1; k <= lines.length; k++) {
      const i = (((from + dir * k) % lines.length) + lines.length) % lines.length;
      if (lines[i]!.toLowerCase().includes(q)) {
        lv.match = i;
        // Bring the match into view a few rows from the top, so its context shows.
        if (i < lv.top || i >= lv.top + this.pageSize()) this.scrollTo(i - 2);
        return { type: 'notice', text: undefined };
      }
    }
    lv.match = undefined;
    return { type: 'notice', text: `not found: ${lv.query}` };
  }

  /** Index in lines of the line shown at display row `row`. */
  private sourceLineAt(row: number): number {
    const lv = this.state;
    if (!lv.wrap) return row;
    const width = this.width();
    let shown = 0;
    for (let i = 0; i < lv.lines.length; i++) {
      shown += Math.max(1, Math.ceil(lv.lines[i]!.length / width));
      if (shown > row) return i;
    }
    return lv.lines.length;
  }

  /** Display row of the first part of source line `line`. */
  private displayLineOf(line: number): number {
    const lv = this.state;
    if (!lv.wrap) return line;
    const width = this.width();
    let row = 0;
    for (let i = 0; i < line && i < lv.lines.length; i++) row += Math.max(1, Math.ceil(lv.lines[i]!.length / width));
    return row;
  }
}
