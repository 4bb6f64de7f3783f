// --ui json: every engine event as one JSON line (NDJSON) on stdout.

import type { EngineEvent, Reporter } from '../events.js';

export function createJsonReporter(out: NodeJS.WritableStream = process.stdout): Reporter {
  return {
    onEvent(e: EngineEvent) {
      out.write(`${JSON.stringify(e)}\n`);
    },
    close: () => Promise.resolve(),
  };
}
