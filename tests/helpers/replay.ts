// Replays recorded engine event streams (NDJSON) into a reporter, the way the
// engine would: log paths point at real files under a temp folder and every
// step-log line is appended to its step's file before the event is delivered.

import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineEvent } from '../../src/events.js';

export const EVENTS_DIR = new URL('../fixtures/events/', import.meta.url).pathname;

export function readEvents(name: string): EngineEvent[] {
  const file = join(EVENTS_DIR, name);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as EngineEvent;
      } catch (err) {
        throw new Error(`${file}:${i + 1}: not JSON: ${(err as Error).message}`);
      }
    });
}

/** Points each step's logPath into `logDir` and keeps the files in step with the events. */
export function withLogFiles(events: EngineEvent[], logDir: string): EngineEvent[] {
  const paths = new Map<string, string>();
  return events.map((e) => {
    if (e.type === 'step-start') {
      const logPath = join(logDir, e.logPath.replace(/[^\w.[\]=-]/g, '_'));
      paths.set(e.step, logPath);
      return { ...e, logPath };
    }
    if (e.type === 'step-failed' && e.logPath) return { ...e, logPath: paths.get(e.step) ?? e.logPath };
    return e;
  });
}

/**
 * Returns a function that delivers events in order, first writing each step's log
 * file as the engine does (across calls, so a stream can be fed in parts).
 */
export function logWritingSink(onEvent: (e: EngineEvent) => void): (events: EngineEvent[]) => void {
  const paths = new Map<string, string>();
  return (events) => {
    for (const e of events) {
      if (e.type === 'step-start') {
        paths.set(e.step, e.logPath);
        writeFileSync(e.logPath, '');
      }
      const path = e.type === 'step-log' ? paths.get(e.step) : undefined;
      if (e.type === 'step-log' && path) appendFileSync(path, e.line + '\n');
      onEvent(e);
    }
  };
}
