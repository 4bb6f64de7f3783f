// Everything the TUI knows and decides, without React: the run model, what is
// selected and shown, the key bindings, and the hand-over of the user's next
// action to the CLI. Components only read from it, so key handling and the
// quit/re-run protocol can be tested by feeding keys and events.

import { Chalk, type ChalkInstance } from 'chalk';
import chalk from 'chalk';
import type { EngineEvent, NextAction, RunControl } from '../../events.js';
import type { KeyInput } from './key-input.js';
import { LogPager, type LogViewState, type PagerAction } from './log-pager.js';
import { RunState } from './state.js';

export type { KeyInput } from './key-input.js';
export type { LogViewState } from './log-pager.js';

export interface TuiControllerOptions {
  control: RunControl;
  color: boolean;
  /** Clock for elapsed times; tests replaying recorded streams pass the event clock. */
  now?: () => number;
  /** Minimum time between frames caused by engine events (keys render at once). */
  frameMs?: number;
  /** How often elapsed times and an open log of a running step refresh. */
  tickMs?: number;
  /** Stay open after the run ends (--stay); otherwise the TUI quits and leaves its last frame. */
  stay?: boolean;
  /** Following a run another process drives (flow attach): no re-run, no cancel. */
  readOnly?: boolean;
}

export type Prompt = 'cancel' | 'quit' | 'search';

export class TuiController {
  readonly run = new RunState();
  readonly chalk: ChalkInstance;
  readonly now: () => number;
  selectedId?: string;
  view: 'main' | 'log' | 'help' | 'closed' = 'main';
  prompt?: Prompt;
  notice?: string;
  /** The full-log view's pager while it is open. */
  pager?: LogPager;
  viewport = { columns: 100, rows: 30 };
  /** From creation until run-end, and again once a re-run is handed to the CLI. */
  runActive = true;
  /** Stay open once the run ends (--stay or the s key); otherwise the run's end quits. */
  stay: boolean;
  readonly readOnly: boolean;
  /** What is typed after / in the full-log view, until enter. */
  searchInput = '';
  /** Headlines of the runs this TUI finished before the current one (re-runs add runs). */
  readonly previousRuns: string[] = [];
  /** Called at each run-end with the controller in its final state (the reporter keeps the frame). */
  onRunEnd?: () => void;

  private readonly control: RunControl;
  private readonly frameMs: number;
  private readonly tickMs: number;
  /** The user moved the selection: stop jumping to the step that started last. */
  private userSelected = false;
  /** A step failed in this run and was selected for the user. */
  private failureSelected = false;
  private cancelRequested = false;
  private pending?: NextAction;
  private waiter?: (action: NextAction) => void;
  private version = 0;
  private listeners = new Set<() => void>();
  private frameTimer?: NodeJS.Timeout;
  private ticker?: NodeJS.Timeout;

  constructor(opts: TuiControllerOptions) {
    this.control = opts.control;
    this.chalk = new Chalk({ level: opts.color ? Math.max(chalk.level, 1) as 1 | 2 | 3 : 0 });
    this.now = opts.now ?? Date.now;
    this.frameMs = opts.frameMs ?? 50;
    this.tickMs = opts.tickMs ?? 1000;
    this.stay = opts.stay ?? false;
    this.readOnly = opts.readOnly ?? false;
  }

  // --- store interface for React (useSyncExternalStore) ---

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  /** Render now instead of at the next frame slot. */
  flush(): void {
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
    this.version++;
    for (const l of this.listeners) l();
  }

  private invalidate(): void {
    if (this.frameTimer) return;
    this.frameTimer = setTimeout(() => {
      this.frameTimer = undefined;
      this.flush();
    }, this.frameMs);
    this.frameTimer.unref();
  }

  dispose(): void {
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
    this.stopTicker();
  }

  // --- engine side ---

  onEvent(e: EngineEvent): void {
    if (e.type === 'run-start' && this.run.end) this.previousRuns.push(this.run.headline());
    this.run.apply(e);
    switch (e.type) {
      case 'run-start':
        this.runActive = true;
        this.failureSelected = false;
        this.cancelRequested = false;
        this.notice = undefined;
        if (!this.selectedId || !this.run.steps.has(this.selectedId)) this.selectedId = this.run.order[0];
        if (this.logView && !this.run.steps.has(this.logView.step)) this.closeLog();
        this.startTicker();
        break;
      case 'step-start':
        if (!this.userSelected && !this.failureSelected) this.selectedId = e.step;
        if (this.logView?.step === e.step) this.loadLog(true);
        break;
      case 'step-failed':
        // The first failure takes the selection and keeps it, whatever else is still running.
        if (!this.failureSelected) {
          this.failureSelected = true;
          this.selectedId = e.step;
        }
        break;
      case 'run-end':
        this.runActive = false;
        this.prompt = undefined;
        this.stopTicker();
        if (this.logView) this.loadLog(this.logView.follow);
        this.notice = this.pending?.type === 'rerun' ? `Re-running ${this.pending.step}…` : undefined;
        if (this.failureSelected && !this.userSelected) this.selectedId = this.run.firstFailure() ?? this.selectedId;
        this.onRunEnd?.();
        if (!this.pending && !this.stay) this.pending = { type: 'quit' };
        this.deliver();
        this.flush();
        return;
    }
    this.invalidate();
  }

  /** Called by the CLI after each run-end; see Reporter.nextAction. */
  nextAction(): Promise<NextAction> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.deliver();
    });
  }

  private deliver(): void {
    if (this.runActive || !this.pending || !this.waiter) return;
    const action = this.pending;
    const waiter = this.waiter;
    this.pending = undefined;
    this.waiter = undefined;
    if (action.type === 'rerun') this.runActive = true;
    waiter(action);
  }

  private startTicker(): void {
    this.stopTicker();
    this.ticker = setInterval(() => {
      if (this.view === 'log' && this.logView && this.run.row(this.logView.step)?.status === 'running') {
        this.loadLog(this.logView.follow);
      }
      this.flush();
    }, this.tickMs);
    this.ticker.unref();
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  // --- keys ---

  handleInput(input: string, key: KeyInput): void {
    // Keys typed faster than a read (or sent in one write by tmux) arrive as one string.
    const plain = !key.ctrl && !key.escape && input.length > 1 && !input.includes('\u001B');
    if (plain) for (const ch of input) this.dispatch(ch, {});
    else this.dispatch(input, key);
    this.flush();
  }

  private dispatch(input: string, key: KeyInput): void {
    if (key.ctrl && input === 'c') return this.quit(true);
    if (this.prompt === 'search') return this.searchKeys(input, key);
    if (this.prompt) {
      const prompt = this.prompt;
      this.prompt = undefined;
      if (input === 'y' || input === 'Y') return prompt === 'cancel' ? this.cancel() : this.quit(true);
      this.notice = undefined;
      return;
    }
    if (this.view === 'help') {
      this.view = 'main';
      return;
    }
    if (this.view === 'log') return this.logKeys(input, key);
    if (key.upArrow || input === 'k') return this.move(-1);
    if (key.downArrow || input === 'j') return this.move(1);
    if (key.home || input === 'g') return this.move(-Infinity);
    if (key.end || input === 'G') return this.move(Infinity);
    if (key.return || input === 'l') return this.openLog();
    if (input === 'r' && !this.readOnly) return this.rerun();
    if (input === 'c' && !this.readOnly) return this.askCancel();
    if (input === 's') return this.toggleStay();
    if (input === 'q') return this.quit(false);
    if (input === '?') this.view = 'help';
  }

  private move(delta: number): void {
    const order = this.run.order;
    if (order.length === 0) return;
    this.userSelected = true;
    const at = this.selectedId ? order.indexOf(this.selectedId) : 0;
    const to = Math.min(order.length - 1, Math.max(0, (at < 0 ? 0 : at) + delta));
    this.selectedId = order[to];
  }

  private rerun(): void {
    const step = this.selectedId;
    if (!step || this.pending?.type === 'quit') return;
    this.pending = { type: 'rerun', step };
    this.notice = this.runActive ? undefined : `Re-running ${step}…`;
    this.deliver();
    // Drawn now: the CLI may close the TUI right after taking the re-run, before the next tick.
    this.flush();
  }

  private toggleStay(): void {
    if (!this.runActive) return;
    this.stay = !this.stay;
    this.notice = this.stay ? 'Will stay open after the run (s: quit when it ends)' : 'Will quit when the run ends';
  }

  /** The notice of a queued re-run: shown until the re-run starts, whatever else is said. */
  queuedNotice(): string | undefined {
    if (this.pending?.type !== 'rerun' || !this.runActive) return undefined;
    return `${this.pending.step} will re-run when this run ends (c cancels the run now)`;
  }

  private askCancel(): void {
    if (!this.runActive) {
      this.notice = 'No run is active.';
      return;
    }
    this.prompt = 'cancel';
  }

  private cancel(): void {
    this.notice = 'Cancelling the run…';
    if (this.cancelRequested) return;
    this.cancelRequested = true;
    this.control.cancel();
  }

  /** Quitting an active run cancels it; the CLI gets `quit` once run-end arrives. */
  private quit(confirmed: boolean): void {
    if (this.readOnly) {
      // Attached to another process's run: leaving does not touch it.
      this.pending = { type: 'quit' };
      this.runActive = false;
      return this.deliver();
    }
    if (this.runActive && !confirmed) {
      this.prompt = 'quit';
      return;
    }
    this.pending = { type: 'quit' };
    if (this.runActive) {
      this.cancel();
      this.notice = 'Cancelling the run; quitting when it stops…';
    }
    this.deliver();
  }

  // --- full log view (the pager: log-pager.ts) ---

  /** The open log view's state (step, lines, scroll, search). */
  get logView(): LogViewState | undefined {
    return this.pager?.state;
  }

  /** Rows of log text the full-log view shows at once. */
  logPageSize(): number {
    return this.pager?.pageSize() ?? 1;
  }

  /** The open log as shown: one row per line, or several per long line when wrapping. */
  logDisplayLines(): string[] {
    return this.pager?.displayLines() ?? [];
  }

  private openLog(): void {
    if (!this.selectedId) return;
    this.pager = new LogPager(this.selectedId, () => this.viewport);
    this.loadLog(true);
    this.view = 'log';
  }

  private closeLog(): void {
    this.pager = undefined;
    this.view = 'main';
  }

  private loadLog(toEnd: boolean): void {
    this.pager?.load(this.run.row(this.pager.state.step), toEnd);
  }

  private logKeys(input: string, key: KeyInput): void {
    if (!this.pager) return this.closeLog();
    this.pagerDid(this.pager.keys(input, key, this.run.row(this.pager.state.step)));
  }

  private pagerDid(action: PagerAction): void {
    if (action?.type === 'close') this.closeLog();
    else if (action?.type === 'notice') this.notice = action.text;
    else if (action?.type === 'search') {
      this.prompt = 'search';
      this.searchInput = '';
    }
  }

  private searchKeys(input: string, key: KeyInput): void {
    if (key.escape) {
      this.prompt = undefined;
      return;
    }
    if (key.return) {
      this.prompt = undefined;
      if (!this.pager || this.searchInput === '') return;
      return this.pagerDid(this.pager.search(this.searchInput));
    }
    if (key.backspace || key.delete || input === '\x7f' || input === '\b') {
      this.searchInput = this.searchInput.slice(0, -1);
      return;
    }
    if (!key.ctrl && input) this.searchInput += input;
  }
}
