// The one reader that turns what a user typed (a run id, a unique prefix of
// one, 'last'/'latest') into a run record. status, log, compare, plot and
// report all resolve runs here, so a prefix means the same everywhere.

import type { DB } from './db.js';

/** A row of the runs table (the table itself: db.ts). */
export interface RunRow {
  id: string;
  recipe: string;
  name: string;
  status: string;
  started_at: number;
  ended_at: number | null;
  params: string;
  argv: string;
  pid: number;
  /** The driver's start time (proc/identity); null in rows from before it was recorded. */
  pid_start: string | null;
}

/** No such run, or a prefix that names several: a user error, printed as one line. */
export class RunLookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunLookupError';
  }
}

export function resolveRun(db: DB, idOrPrefix: string): RunRow {
  if (idOrPrefix === 'last' || idOrPrefix === 'latest') {
    const latest = db.prepare('SELECT * FROM runs ORDER BY rowid DESC LIMIT 1').get() as RunRow | undefined;
    if (!latest) throw new RunLookupError('no runs recorded in this cache yet');
    return latest;
  }
  const exact = db.prepare('SELECT * FROM runs WHERE id = ?').get(idOrPrefix) as RunRow | undefined;
  if (exact) return exact;
  const like = idOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
  const rows = db.prepare("SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 3").all(like) as RunRow[];
  if (rows.length === 1) return rows[0]!;
  if (rows.length > 1) throw new RunLookupError(`run '${idOrPrefix}' is ambiguous: ${rows.map((r) => r.id).join(', ')}, ...`);
  throw new RunLookupError(`no run '${idOrPrefix}' in this cache (see flow runs)`);
}
