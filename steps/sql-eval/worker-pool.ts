// A pool of worker processes (item-worker.ts) scoring items, one at a time
// each, started once per evaluation. An item past its time limit gets its
// worker SIGKILLed (the only way to stop a running SQLite statement from
// outside) and a fresh worker takes its place; so does a worker that dies.
// Either way the item is scored wrong with the reason and the rest go on; the
// item is then matched again without execution, so that its hardness and exact
// match stand (the parse is what hung when that is lost too).
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Executed, ItemReply, ItemRequest, ItemTask, Matched } from './worker-protocol.js';

/**
 * The compiled worker script: beside this module when running from dist/, or
 * under dist/ of the package root when this module runs from sources (vitest).
 */
export function workerScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(here, 'item-worker.js');
  if (existsSync(beside)) return beside;
  let dir = here;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const built = path.join(dir, 'dist', 'steps', 'sql-eval', 'item-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`sql-eval: ${built} not found; run \`npm run build\` first`);
}

/** What became of one item; `matched` is absent only when the worker was lost before it matched. */
export interface ItemOutcome {
  matched?: Matched;
  executed?: Executed;
  /** Why the item could not be scored in full: timeout, a crashed worker, an exception. */
  lost?: string;
  /** The gold SQL cannot be parsed (bad input). */
  goldUnparsable?: string;
}

interface Task {
  req: ItemTask;
  outcome: ItemOutcome;
  /** The match-only second try of an item lost on its first. */
  retry?: boolean;
  resolve(o: ItemOutcome): void;
  reject(e: Error): void;
}

interface Worker {
  child: ChildProcess;
  /** Sent and unfinished, in the order the worker takes them: the first is running. */
  inflight: Array<{ id: number; task: Task }>;
  timer?: NodeJS.Timeout;
  /** Killed and not yet replaced: takes no work. */
  dead?: boolean;
}

export interface PoolOptions {
  size: number;
  /**
   * Per query: an item on f database files may take (1 + 2·f) times this (its
   * parse and match, then gold and prediction on each file); with plug_value,
   * 2·n·f times this for its n candidates once it is matched.
   */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Items sent ahead to each worker, so it never waits on a round trip; few, so
 * that the workers finish together. An item's clock starts when the one before
 * it in the same worker has finished.
 */
const PIPELINE = 4;

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private readonly script = workerScript();
  private readonly onAbort = () => this.close(new Error('aborted'));

  constructor(private readonly opts: PoolOptions) {
    for (let i = 0; i < opts.size; i++) this.workers.push(this.spawn());
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private spawn(): Worker {
    const child = fork(this.script, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // No inherited --inspect or loaders.
      execArgv: [],
    });
    const w: Worker = { child, inflight: [] };
    child.stderr?.resume();
    child.on('message', (m: ItemReply) => this.onReply(w, m));
    child.on('exit', () => this.onExit(w));
    return w;
  }

  private startClock(w: Worker): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    const head = w.inflight[0];
    if (!head) return;
    const { req, outcome } = head.task;
    const t = this.opts.timeoutMs;
    const files = req.options.exec && req.files !== null ? req.files.length : 0;
    const limit = outcome.matched ? t * 2 * files * outcome.matched.candidates : t * (1 + 2 * files);
    const why = files > 0 ? `timeout: over the ${t / 1000} s limit per query` : `timeout: parsing and matching took over ${t / 1000} s`;
    w.timer = setTimeout(() => {
      if (w.inflight[0] !== head) return;
      this.retire(w, why);
      // The exit handler respawns it.
      w.child.kill('SIGKILL');
    }, limit);
  }

  /** The running item is lost with `why`; the ones queued behind it go back to the pool. */
  private retire(w: Worker, why: string): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    w.dead = true;
    const [head, ...rest] = w.inflight.splice(0);
    this.queue.unshift(...rest.map((r) => r.task));
    if (!head) return;
    const task = head.task;
    if (task.retry) {
      task.resolve(task.outcome);
      return;
    }
    task.outcome.lost = why;
    if (task.outcome.matched || !task.req.options.match) task.resolve(task.outcome);
    else this.queue.unshift({ ...task, req: { ...task.req, options: { ...task.req.options, exec: false } }, retry: true });
  }

  private onReply(w: Worker, m: ItemReply): void {
    const head = w.inflight[0];
    if (!head || head.id !== m.id) return;
    const out = head.task.outcome;
    if (m.kind === 'matched') {
      out.matched = m.matched;
      // The candidates come next, on their own budget.
      this.startClock(w);
      return;
    }
    if (m.kind === 'scored') {
      out.matched = m.matched;
      out.executed = m.executed;
    } else if (m.kind === 'gold-unparsable') out.goldUnparsable = m.message;
    else if (!head.task.retry) out.lost = m.message;
    w.inflight.shift();
    head.task.resolve(out);
    this.startClock(w);
    this.pump();
  }

  private onExit(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i < 0 || this.closed) return;
    if (!w.dead) this.retire(w, 'the item crashed its worker process');
    this.workers[i] = this.spawn();
    this.pump();
  }

  private pump(): void {
    for (const w of this.workers) {
      if (w.dead || !w.child.connected) continue;
      while (this.queue.length > 0 && w.inflight.length < PIPELINE) {
        const task = this.queue.shift()!;
        const id = this.nextId++;
        w.inflight.push({ id, task });
        w.child.send({ ...task.req, id } satisfies ItemRequest);
        if (w.inflight.length === 1) this.startClock(w);
      }
    }
  }

  run(req: ItemTask): Promise<ItemOutcome> {
    if (this.closed) return Promise.reject(new Error('pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, outcome: {}, resolve, reject });
      this.pump();
    });
  }

  /** Kills every worker; pending items reject with `why`. */
  close(why = new Error('pool closed')): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    for (const w of this.workers) {
      clearTimeout(w.timer);
      for (const f of w.inflight.splice(0)) f.task.reject(why);
      w.child.kill('SIGKILL');
    }
    for (const t of this.queue.splice(0)) t.reject(why);
  }
}
