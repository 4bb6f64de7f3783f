// The per-item results an evaluation step writes (its `results` output, one
// JSON object per line), read the same way by every view that needs them. The
// generic fields: `index` (the item's place in the gold file), a 0/1 verdict per
// metric (`ex`, `em`; null where not scored), `groups` (what the figures break
// down by, named by the step: sql-eval writes {hardness}), and the texts a
// reader wants beside a verdict (`question`, `gold`, `pred`, `error`).

import { readFileSync } from 'node:fs';

export interface ResultItem {
  index?: number;
  hardness?: string;
  groups?: Record<string, string>;
  ex?: number | null;
  em?: number | null;
  pred?: string;
  gold?: string;
  error?: string | null;
  question?: string;
  [field: string]: unknown;
}

/** The items of a results file; undefined when it is gone (collected by gc) or was never written. */
export function readItems(path: string): ResultItem[] | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const items: ResultItem[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      items.push(JSON.parse(line) as ResultItem);
    } catch {
      // A truncated last line (a step killed mid-write) is skipped, not fatal for a view.
    }
  }
  return items;
}
