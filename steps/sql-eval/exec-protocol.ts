// Messages between the evaluator and its SQL child processes. A task is one
// execution-match check (gold and one candidate prediction on every database
// file of the item), so only a verdict crosses the process boundary, not rows.

export interface ExecTask {
  files: string[];
  gold: string;
  pred: string;
  orderMatters: boolean;
  /** Apply the official quick_rej pre-check (test-suite compat). */
  quickReject: boolean;
  maxRows: number;
  maxBytes: number;
}

export interface ExecRequest extends ExecTask {
  id: number;
}

export interface ExecVerdict {
  ex: 0 | 1;
  /** Why the prediction failed to run (null when it ran). */
  error: string | null;
  /** Set when the gold query itself failed: the item cannot be judged. */
  goldError?: string;
}

export interface ExecReply extends ExecVerdict {
  id: number;
}
