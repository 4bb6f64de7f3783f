// The progress callback the SQL steps (sql-eval, its BIRD mode, sql-vote) hand their worker pool:
// an event at most every 200 ms, and always the last one, so a fast evaluation does not flood
// the reporters with one event per item.

import type { StepRunContext } from '../../src/steps/types.js';

export function itemProgress(ctx: Pick<StepRunContext, 'progress'>): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done === total || now - last > 200) {
      last = now;
      ctx.progress({ current: done, total, unit: 'items' });
    }
  };
}
