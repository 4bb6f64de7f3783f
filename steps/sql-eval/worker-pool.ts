// A pool of worker processes (item-worker.ts) scoring items, one at a time
// each, started once per evaluation. An item past its time limit gets its
// worker SIGKILLed (the only way to stop a running SQLite statement from
// outside) and a fresh worker takes its place; so does a worker that dies.
// Either way the item is scored wrong with the reason and the rest go on; the
// item is then matched again without execution, so that its hardness and exact
// match stand (the parse is what hung when that is lost too).
//
// Messages go in batches both ways (a write per item cost a fifth of the CPU),
// so when a worker is lost the parent cannot tell which of the items it held
// was running: all of them go again "solo", where the worker reports each item
// as soon as it is done and so the item running is the first unanswered one.
//
// The same pool runs sql-vote's group tasks (an item's candidate queries, grouped
// by result; group-exec.ts). Solo, such a task announces each query before it
// runs: a query killed for time is marked failed and the task goes again without it.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Grouped } from './group-exec.js';
import { isGroupTask, type Executed, type ItemReply, type ItemRequest, type Matched, type PoolTask } from './worker-protocol.js';

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
  /** A group task's verdicts (sql-vote). */
  grouped?: Grouped;
  /** A solo group task: the query running now, to blame if the worker must be killed. */
  running?: number;
}

interface Task {
  req: PoolTask;
  outcome: ItemOutcome;
  /** The match-only second try of an item lost on its first. */
  retry?: boolean;
  /** Answered at once by the worker: sent again after a worker was lost while holding it. */
  solo?: boolean;
  resolve(o: ItemOutcome): void;
  reject(e: Error): void;
}

interface Worker {
  child: ChildProcess;
  /** Sent and unfinished, in the order the worker takes them: the first is running. */
  inflight: Array<{ id: number; task: Task }>;
  /** The id of the last item of each batch sent and not yet fully answered, oldest first. */
  batchEnds: number[];
  timer?: NodeJS.Timeout;
  /** Killed and not yet replaced: takes no work. */
  dead?: boolean;
  /** The start of what it wrote to stderr, to say why it died. */
  stderr: string;
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
 * Items per message: a message costs a write and a wake-up on both sides, so
 * items go in batches; few, so that the workers finish together.
 */
const BATCH = 16;

/**
 * Batches held by each worker: two, so that while it scores one, the parent
 * answers the reply to the other with the next (a worker holding a single
 * batch sat idle for a round trip after each, 15-25% of its time on the loaded
 * 2-core machine). An item's clock starts when the answer to the one before it
 * in the same worker arrives.
 */
const BATCHES_HELD = 2;

/**
 * An item that crashes its worker does so up to 3 times (in a batch, solo, matching only), so the
 * items a worker holds (BATCHES_HELD·BATCH at most) can cause 3 times as many crashes in a row;
 * more means no worker can run at all.
 */
const MAX_CRASHES_IN_A_ROW = 3 * BATCHES_HELD * BATCH + 2;

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private readonly script = workerScript();
  private readonly onAbort = () => this.close(new Error('aborted'));
  private pumpQueued = false;
  /** Workers that died on their own since the last reply from any: many in a row means none can work. */
  private crashesInARow = 0;

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
    const w: Worker = { child, inflight: [], batchEnds: [], stderr: '' };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      if (w.stderr.length < 4000) w.stderr += d;
    });
    child.on('message', (batch: ItemReply[]) => {
      this.crashesInARow = 0;
      for (const m of batch) this.onReply(w, m);
      this.pump();
    });
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
    if (isGroupTask(req)) {
      // Each query may take the limit on each file: all of them in a batch, the one announced when solo.
      const n = head.task.solo ? 1 : Math.max(1, req.sqls.length);
      w.timer = setTimeout(() => {
        if (w.inflight[0] !== head) return;
        this.retire(w, `timeout: over the ${t / 1000} s limit per query`);
        w.child.kill('SIGKILL');
      }, t * n * Math.max(1, req.files.length));
      return;
    }
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

  /**
   * The worker is lost (killed for time, or crashed). A solo head is the item
   * that was running: it is lost with `why` and the rest go back to the pool.
   * Otherwise any held item may have been running: all go again, solo.
   */
  private retire(w: Worker, why: string): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    w.dead = true;
    const held = w.inflight.splice(0);
    const head = held[0];
    if (!head) return;
    if (!head.task.solo) {
      this.queue.unshift(...held.map((h) => ({ ...h.task, solo: true })));
      return;
    }
    this.queue.unshift(...held.slice(1).map((h) => h.task));
    const task = head.task;
    if (isGroupTask(task.req)) {
      const i = task.outcome.running;
      if (i === undefined) {
        task.outcome.lost = why;
        task.resolve(task.outcome);
        return;
      }
      // The query that was running fails with `why`; the others run again without it.
      const skip = task.req.skip.slice();
      skip[i] = why;
      this.queue.unshift({ ...task, req: { ...task.req, skip }, outcome: {} });
      return;
    }
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
    if (m.kind === 'running') {
      out.running = m.sql;
      this.startClock(w);
      return;
    }
    if (m.kind === 'matched') {
      out.matched = m.matched;
      // The candidates come next, on their own budget.
      this.startClock(w);
      return;
    }
    if (m.kind === 'scored') {
      out.matched = m.matched;
      out.executed = m.executed;
    } else if (m.kind === 'grouped') out.grouped = m.grouped;
    else if (m.kind === 'gold-unparsable') out.goldUnparsable = m.message;
    else if (!head.task.retry) out.lost = m.message;
    w.inflight.shift();
    const next = w.inflight[0]?.id ?? Infinity;
    while (w.batchEnds.length > 0 && w.batchEnds[0]! < next) w.batchEnds.shift();
    head.task.resolve(out);
    this.startClock(w);
  }

  private onExit(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i < 0 || this.closed) return;
    if (!w.dead) {
      if (++this.crashesInARow > MAX_CRASHES_IN_A_ROW) {
        const lines = w.stderr.split('\n').map((l) => l.trim());
        const why = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines.find((l) => l !== '') ?? 'no output';
        this.close(new Error(`sql-eval: the worker processes die before answering (${MAX_CRASHES_IN_A_ROW} in a row); last output: ${why}`));
        return;
      }
      this.retire(w, 'the item crashed its worker process');
    }
    this.workers[i] = this.spawn();
    this.pump();
  }

  /**
   * Tops each worker up to BATCHES_HELD batches, one per message. Batches
   * shrink as the queue runs out (a share of what is left per batch held), so
   * that no worker is left with a long tail while the others have finished.
   */
  private pump(): void {
    for (const w of this.workers) {
      if (w.dead || !w.child.connected) continue;
      while (w.batchEnds.length < BATCHES_HELD) {
        const size = Math.min(BATCH, Math.ceil(this.queue.length / (BATCHES_HELD * this.workers.length)));
        if (size === 0) break;
        const batch: ItemRequest[] = [];
        for (let k = 0; k < size; k++) {
          const task = this.queue.shift()!;
          const id = this.nextId++;
          w.inflight.push({ id, task });
          batch.push({ ...task.req, id, solo: task.solo });
          if (w.inflight.length === 1) this.startClock(w);
        }
        w.batchEnds.push(this.nextId - 1);
        w.child.send(batch);
      }
    }
  }

  run(req: PoolTask): Promise<ItemOutcome> {
    if (this.closed) return Promise.reject(new Error('pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, outcome: {}, resolve, reject });
      // Once the caller has queued all it has, so the first batches are full.
      if (!this.pumpQueued) {
        this.pumpQueued = true;
        queueMicrotask(() => {
          this.pumpQueued = false;
          this.pump();
        });
      }
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
