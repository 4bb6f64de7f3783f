// Runs the real flow CLI (compiled) as a child process, the way users do.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { execa, type ResultPromise } from 'execa';
import { onTestFinished } from 'vitest';
import type { EngineEvent } from '../../src/events.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FLOW = join(ROOT, 'bin', 'flow.js');

export interface Sandbox {
  dir: string;
  cache: string;
  write(name: string, text: string): string;
  flow(args: string[], opts?: { env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string; events: EngineEvent[] }>;
  spawn(args: string[], opts?: { env?: Record<string, string> }): ResultPromise;
  /** Execution rows of a run (status per step id). */
  executions(runId: string): Record<string, string>;
  /** The result of a spawned flow, as flow() returns it. */
  collect(child: ResultPromise, args: string[]): Promise<FlowResult>;
  /**
   * A test rig gate (after wireit's test rig): `command` is a shell snippet that blocks until the
   * test calls release(), so a test decides when a step finishes instead of sleeping and hoping.
   */
  gate(name: string): { command: string; release(): Promise<void> };
}

type FlowResult = { code: number; stdout: string; stderr: string; events: EngineEvent[] };

/** Resolves with the first line of a child's stdout that matches (read line by line as it comes). */
export function lineFrom(child: ResultPromise, match: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let rest = '';
    const onData = (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      const hit = lines.find(match);
      if (hit === undefined) return;
      child.stdout!.off('data', onData);
      resolve(hit);
    };
    child.stdout!.on('data', onData);
    child.then(() => reject(new Error('the process ended without printing the line')), reject);
  });
}

export function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'flow-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const cache = join(dir, 'cache');
  const spawn = (args: string[], opts: { env?: Record<string, string> } = {}) =>
    execa(process.execPath, [FLOW, ...args, '--cache-dir', cache], { cwd: dir, reject: false, env: { NO_COLOR: '1', ...opts.env } });
  return {
    dir,
    cache,
    write(name, text) {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    async flow(args, opts) {
      return this.collect(spawn(args, opts), args);
    },
    async collect(child, args) {
      const r = await child;
      const stdout = String(r.stdout);
      const events = args.includes('json') ? stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as EngineEvent) : [];
      return { code: r.exitCode ?? -1, stdout, stderr: String(r.stderr), events };
    },
    gate(name) {
      const fifo = join(dir, `gate-${name}`);
      execFileSync('mkfifo', [fifo]);
      return {
        // Reading a FIFO blocks until a writer opens it.
        command: `read _ < ${fifo}`,
        release: () => writeFile(fifo, 'go\n'),
      };
    },
    spawn,
    executions(runId) {
      const db = new Database(join(cache, 'flow.db'), { readonly: true });
      try {
        const rows = db.prepare('SELECT step_id, status FROM executions WHERE run_id = ?').all(runId) as Array<{ step_id: string; status: string }>;
        return Object.fromEntries(rows.map((r) => [r.step_id, r.status]));
      } finally {
        db.close();
      }
    },
  };
}

export function runIdOf(events: EngineEvent[]): string {
  const start = events.find((e) => e.type === 'run-start');
  if (!start) throw new Error('no run-start event');
  return start.runId;
}
