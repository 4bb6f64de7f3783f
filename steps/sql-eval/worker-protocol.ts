// Messages between the evaluator and its worker processes. A task is one
// item: the worker parses and matches it, then runs its queries, so only
// verdicts cross the process boundary, never rows or parse trees. Both sides
// send arrays of these, batched: each message costs a write and a wake-up.
import type { PartialVector } from './exact-match.js';
import type { Hardness } from './hardness.js';
import type { Grouped } from './group-exec.js';

export interface ItemOptions {
  /** Exact set match wanted (etype match or all). */
  match: boolean;
  /** Execution match wanted (etype exec or all). */
  exec: boolean;
  plugValue: boolean;
  keepDistinct: boolean;
  testSuite: boolean;
  maxRows: number;
  maxBytes: number;
  /** BIRD's rules (bird.ts) instead of Spider's: no parsing, EX / Soft-F1 / R-VES with `runs` timed runs (0: no R-VES). */
  bird?: { runs: number };
}

export interface ItemTask {
  db: string;
  gold: string;
  /** The prediction as scored (after the test-suite ` value ` rewrite); '' when there is none. */
  pred: string;
  /** Why the prediction is not executed ('no prediction', 'empty prediction'), or null. */
  predError: string | null;
  /** The database files to run on, or null when the database is absent. */
  files: string[] | null;
  /** `<db_dir>/<db>/<db>.sqlite`, read for the parser's schema. */
  schemaFile: string;
  /** tables.json: foreign keys, and the schema where the database is absent. */
  tables: string;
  options: ItemOptions;
}

/**
 * sql-vote's task: run an item's distinct candidate queries on its database files and
 * group them by result (group-exec.ts). No gold, no parsing.
 */
export interface GroupTask {
  kind: 'group';
  files: string[];
  sqls: string[];
  /** Per query: the reason it is not run (killed for time before), or null. */
  skip: Array<string | null>;
  maxRows: number;
  maxBytes: number;
}

export type PoolTask = ItemTask | GroupTask;

export function isGroupTask(t: PoolTask): t is GroupTask {
  return (t as GroupTask).kind === 'group';
}

export type ItemRequest = PoolTask & {
  id: number;
  /** Report this item as soon as it is done, and everything before it before starting it. */
  solo?: boolean;
};

/** Everything but execution. */
export interface Matched {
  /** Spider's hardness of the gold; absent for BIRD items, which carry their own difficulty. */
  hardness?: Hardness;
  em: number | null;
  partial?: PartialVector;
  rouge1: number;
  rouge2: number;
  rougeL: number;
  string_match: number;
  /** Candidates to execute next (0: no execution follows); each runs gold and itself on every file. */
  candidates: number;
}

export interface Executed {
  ex: 0 | 1;
  /** Why the prediction failed to run (null when it ran or was merely wrong). */
  error: string | null;
  /** Set when the gold query itself failed: the item cannot be judged. */
  goldError?: string;
  /** BIRD: Soft-F1 of the rows, and the R-VES reward when runs were timed. */
  soft_f1?: number;
  reward?: number;
}

export type ItemReply =
  /** Sent before executing only when several candidates follow (plug_value): it sets their time budget. */
  | { id: number; kind: 'matched'; matched: Matched }
  /** The item's verdicts; `executed` is absent when nothing was executed. */
  | { id: number; kind: 'scored'; matched: Matched; executed?: Executed }
  /** The gold SQL cannot be parsed into Spider's structure: bad input, the run stops. */
  | { id: number; kind: 'gold-unparsable'; message: string }
  /** Scoring the item threw (a bug or an input beyond some limit): the item is wrong with this reason. */
  | { id: number; kind: 'failed'; message: string }
  /** A group task's verdicts. */
  | { id: number; kind: 'grouped'; grouped: Grouped }
  /** Solo group tasks only: query `sql` starts now, on its own time budget. */
  | { id: number; kind: 'running'; sql: number };
