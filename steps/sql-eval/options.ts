// What an evaluation is asked for and what it finds per item: the types evaluate.ts, metrics.ts
// and provenance.ts share, in a module of their own so that none of them imports another's types
// back (the no-circular rule counts type-only imports).
import type { PartialVector } from './exact-match.js';
import type { Hardness } from './hardness.js';
import type { PoolRunOptions } from './pool-options.js';

export type Etype = 'exec' | 'match' | 'all';
export type Compat = 'test-suite' | 'strict';

export interface EvalOptions extends PoolRunOptions {
  predictions: string;
  gold: string;
  dbDir: string;
  tables: string;
  /** Optional: each item's question (JSON array or JSONL with "question"), recorded in results. */
  questions?: string;
  etype: Etype;
  plugValue: boolean;
  keepDistinct: boolean;
  compat: Compat;
}

export interface ItemResult {
  index: number;
  db_id: string;
  /** The natural-language question, when a questions file was given. */
  question?: string;
  /** Interaction-format gold: the item's interaction and turn (0-based). */
  interaction?: number;
  turn?: number;
  hardness: Hardness;
  /** null where not evaluated (etype, or the database is missing). */
  ex: number | null;
  em: number | null;
  missing_db: boolean;
  error: string | null;
  pred: string;
  gold: string;
  /** Partial-match scores, for the aggregation only (not written to results). */
  partial?: PartialVector;
  rouge1: number;
  rouge2: number;
  rougeL: number;
  string_match: number;
}
