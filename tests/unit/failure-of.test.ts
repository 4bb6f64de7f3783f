// How a step's error becomes its step-failed message (src/scheduler/execute.ts).

import { expect, it } from 'vitest';
import { failureOf } from '../../src/scheduler/execute.js';

it("an error of the environment (a database held by another process, a full disk) is flow's one line, not the library's stack", () => {
  const busy = Object.assign(new Error('database is locked'), { name: 'SqliteError', code: 'SQLITE_BUSY' });
  const f = failureOf(busy);
  expect(f.message).toMatch(/^the cache database is locked by another process/);
  expect(f.message).not.toContain('\n');
  const full = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC', path: '/c/work/x/o.txt' });
  expect(failureOf(full).message).toBe(
    'no space left on the device (/c/work/x/o.txt); free some (`flow gc` removes what no run needs) or point --cache-dir elsewhere',
  );
});

it('an unexpected error keeps its stack, for a bug report', () => {
  expect(failureOf(new TypeError('x is undefined')).message).toMatch(/^TypeError: x is undefined\n\s+at /);
});
