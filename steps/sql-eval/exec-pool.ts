// A pool of child processes running SQL, one query at a time each. A query
// past its time limit gets its child SIGKILLed (the only way to stop a running
// SQLite statement from outside) and a fresh child takes its place.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecReply, ExecRequest, ExecTask, ExecVerdict } from './exec-protocol.js';

/**
 * The compiled child script: beside this module when running from dist/, or
 * under dist/ of the package root when this module runs from sources (vitest).
 */
export function childScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(here, 'exec-child.js');
  if (existsSync(beside)) return beside;
  let dir = here;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const built = path.join(dir, 'dist', 'steps', 'sql-eval', 'exec-child.js');
  if (existsSync(built)) return built;
  throw new Error(`sql-eval: ${built} not found; run \`npm run build\` first`);
}

interface Task {
  req: ExecTask;
  resolve(r: ExecVerdict): void;
  reject(e: Error): void;
}

interface Worker {
  child: ChildProcess;
  /** Sent and unanswered, in the order the child runs them: the first is running. */
  inflight: Array<{ id: number; task: Task }>;
  timer?: NodeJS.Timeout;
  /** Killed and not yet replaced: takes no work. */
  dead?: boolean;
}

export interface PoolOptions {
  size: number;
  /** Per query; a task running 2 queries on each of n files may take 2n times this. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Queries sent ahead to each child, so it never waits on a round trip. The time
 * limit still applies per task: a task's clock starts when the one before it
 * in the same child has answered.
 */
const PIPELINE = 32;

export class ExecPool {
  private readonly workers: Worker[] = [];
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;
  private readonly script = childScript();
  private readonly onAbort = () => this.close(new Error('aborted'));

  constructor(private readonly opts: PoolOptions) {
    for (let i = 0; i < opts.size; i++) this.workers.push(this.spawn());
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private spawn(): Worker {
    const child = fork(this.script, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // No inherited --inspect or loaders; the child needs nothing but better-sqlite3.
      execArgv: [],
    });
    const w: Worker = { child, inflight: [] };
    child.stderr?.resume();
    child.on('message', (m: ExecReply) => this.onReply(w, m));
    child.on('exit', () => this.onExit(w));
    return w;
  }

  private startClock(w: Worker): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    const head = w.inflight[0];
    if (!head) return;
    w.timer = setTimeout(() => {
      if (w.inflight[0] !== head) return;
      this.retire(w, `timeout: over the ${this.opts.timeoutMs / 1000} s limit per query`);
      // The exit handler respawns it.
      w.child.kill('SIGKILL');
    }, this.opts.timeoutMs * 2 * head.task.req.files.length);
  }

  /** The running query fails with `error`; the ones queued behind it go back to the pool. */
  private retire(w: Worker, error: string): void {
    clearTimeout(w.timer);
    w.timer = undefined;
    w.dead = true;
    const [head, ...rest] = w.inflight.splice(0);
    this.queue.unshift(...rest.map((r) => r.task));
    head?.task.resolve({ ex: 0, error });
  }

  private onReply(w: Worker, m: ExecReply): void {
    const head = w.inflight[0];
    if (!head || head.id !== m.id) return;
    w.inflight.shift();
    head.task.resolve({ ex: m.ex, error: m.error, goldError: m.goldError });
    this.startClock(w);
    this.pump();
  }

  private onExit(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i < 0 || this.closed) return;
    if (!w.dead) this.retire(w, 'query crashed its worker process');
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
        w.child.send({ ...task.req, id } satisfies ExecRequest);
        if (w.inflight.length === 1) this.startClock(w);
      }
    }
  }

  run(req: ExecTask): Promise<ExecVerdict> {
    if (this.closed) return Promise.reject(new Error('pool closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  /** Kills every child; pending queries reject with `why`. */
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
