// Runs the real flow CLI (compiled) as a child process, the way users do.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
      const r = await spawn(args, opts);
      const stdout = String(r.stdout);
      const events = args.includes('json') ? stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as EngineEvent) : [];
      return { code: r.exitCode ?? -1, stdout, stderr: String(r.stderr), events };
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
