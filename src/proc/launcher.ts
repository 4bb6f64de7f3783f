// flow's side of the process launcher (launcher.py): one small Python process per
// flow process, started on first use, that spawns step processes on request with
// posix_spawn and relays their output. Node's own spawn forks flow's whole process,
// which costs milliseconds per step; see launcher.py for why and for the protocol.
// It earns its place: a cold `flow run` of 200 `echo` steps at --jobs 2 took 921 ms of
// CPU (flow and its children) against 2,018 ms with FLOW_LAUNCHER=direct, 9.1 s against
// 16.7 s of wall time (medians of 11 interleaved runs, Node 20, 2 loaded cores); and
// it is the subreaper that stops a step's setsid daemons before its outputs are committed.
//
// Without python3 on PATH, or with FLOW_LAUNCHER=direct, or once the launcher has
// died, `launcher()` answers undefined and process-group.ts spawns directly.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../root.js';

export interface LaunchRequest {
  /** Absolute path, or a bare name looked up on env.PATH. */
  file: string;
  /** argv[0] included: the name the program sees. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** 1 for an extra pipe at fd 3. */
  extra: number;
}

/** How a leader ended; `groupLeft` tells whether other processes of its group were still running. */
export interface LeaderExit {
  code: number | null;
  signal: string | null;
  groupLeft?: boolean;
}

/**
 * One output stream of a launched process, relayed from the launcher's frames. Chunks that
 * arrive before a reader attaches are held for it. The reader gets the same three calls it
 * would make on a Node stream ('data', then 'close'), without a stream's machinery per chunk.
 */
export class OutputRelay {
  private reader?: (chunk: Buffer) => void;
  private held: Buffer[] = [];
  private closers: Array<() => void> = [];
  ended = false;

  on(_event: 'data', reader: (chunk: Buffer) => void): this {
    this.reader = reader;
    for (const c of this.held) reader(c);
    this.held = [];
    return this;
  }

  /** 'close' after the last chunk ('error' never comes: the launcher reports a failure as a close). */
  once(event: 'close' | 'error', fn: () => void): this {
    if (event !== 'close') return this;
    if (this.ended) fn();
    else this.closers.push(fn);
    return this;
  }

  write(chunk: Buffer): void {
    if (this.ended) return; // abandoned by flow (process-group.ts): a stray's output is not read
    if (this.reader) this.reader(chunk);
    else this.held.push(chunk);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const fn of this.closers.splice(0)) fn();
  }
}

/** A started step process: its pid (= its process group), its output streams by fd, its exit. */
export interface Launched {
  pid: number;
  streams: Map<number, OutputRelay>;
  exit: Promise<LeaderExit>;
}

interface Pending {
  extra: number;
  started(l: Launched | Error): void;
  launched?: Launched;
  exited?(e: LeaderExit): void;
}

class Launcher {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buf: Buffer = Buffer.alloc(0);
  dead = false;

  constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => this.take(d));
    child.on('exit', () => this.died());
    child.on('error', () => this.died());
    child.stdin!.on('error', () => undefined);
    // Neither the process nor its pipes keep flow alive; the pipe closing is how it learns flow is gone.
    child.unref();
    for (const s of [child.stdin, child.stdout]) (s as unknown as { _handle?: { unref?: () => void } })._handle?.unref?.();
  }

  start(req: LaunchRequest): Promise<Launched> {
    const id = this.nextId++;
    return new Promise<Launched>((res, rej) => {
      this.pending.set(id, { extra: req.extra, started: (l) => (l instanceof Error ? rej(l) : res(l)) });
      this.holdWhileBusy();
      this.child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  /** Flow has ended a group that outlived its leader: the launcher no longer kills it when flow goes. */
  forget(pid: number): void {
    if (!this.dead) this.child.stdin!.write(`-${pid}\n`);
  }

  private take(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let at = 0;
    for (;;) {
      const nl = this.buf.indexOf(10, at);
      if (nl < 0) break;
      const header = this.buf.toString('utf8', at, nl);
      const [kind, id, a, b, c] = header.split(' ');
      const p = this.pending.get(Number(id));
      if (kind === 'D') {
        const end = nl + 1 + Number(b);
        if (end > this.buf.length) break;
        p?.launched?.streams.get(Number(a))?.write(this.buf.subarray(nl + 1, end));
        at = end;
        continue;
      }
      at = nl + 1;
      if (!p) continue;
      if (kind === 'S') this.started(p, Number(a));
      else if (kind === 'F') {
        this.done(Number(id));
        p.started(new Error(header.slice(`F ${id} `.length)));
      } else if (kind === 'C') p.launched?.streams.get(Number(a))?.end();
      else if (kind === 'X') {
        p.exited?.({ code: a === '-' ? null : Number(a), signal: b === '-' ? null : b!, groupLeft: c === '1' });
        this.settle(Number(id), p);
      }
    }
    this.buf = at >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
  }

  /** The pipe keeps flow alive while a request is out (so flow waits for the answer), and only then. */
  private holdWhileBusy(): void {
    const h = (this.child.stdout as unknown as { _handle?: { ref?: () => void; unref?: () => void } })._handle;
    if (this.pending.size) h?.ref?.();
    else h?.unref?.();
  }

  private done(id: number): void {
    this.pending.delete(id);
    this.holdWhileBusy();
  }

  private started(p: Pending, pid: number): void {
    const streams = new Map<number, OutputRelay>();
    for (let fd = 1; fd < 3 + p.extra; fd++) streams.set(fd, new OutputRelay());
    const exit = new Promise<LeaderExit>((res) => (p.exited = res));
    p.launched = { pid, streams, exit };
    p.started(p.launched);
  }

  /** Done with a request once its leader exited and its streams closed. */
  private settle(id: number, p: Pending): void {
    const open = [...(p.launched?.streams.values() ?? [])].filter((s) => !s.ended);
    let left = open.length;
    if (!left) return this.done(id);
    for (const s of open) s.once('close', () => --left || this.done(id));
  }

  /** The launcher is gone: every process it started is reported as ended, its streams closed. */
  private died(): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of this.pending.values()) {
      if (!p.launched) p.started(new Error('the process launcher exited'));
      else {
        for (const s of p.launched.streams.values()) s.end();
        p.exited?.({ code: null, signal: 'SIGKILL' });
      }
    }
    this.pending.clear();
    this.holdWhileBusy();
  }
}

let the: Launcher | undefined;

/** The launcher of this process, started on first use; undefined where it cannot be used. */
export function launcher(python: string | undefined): Launcher | undefined {
  if (process.env.FLOW_LAUNCHER === 'direct') return undefined;
  if (the) return the.dead ? undefined : the;
  if (!python) return undefined;
  const child = spawn(python, ['-I', '-S', join(ROOT, 'src', 'proc', 'launcher.py')], {
    detached: true, // its own session: a Ctrl-C to flow's group is flow's to handle
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  the = new Launcher(child);
  return the;
}

export type { Launcher };
