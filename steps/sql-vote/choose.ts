// Picking one candidate per item from its candidates' execution groups. Pure:
// the groups come from the worker processes (sql-eval/group-exec.ts).
import type { Candidate } from './inputs.js';

export type Strategy = 'majority' | 'first-valid' | 'logprob';

export interface Choice {
  /** Index of the chosen candidate. */
  chosen: number;
  /** Candidates in the chosen candidate's result group (0 when it failed to run). */
  support: number;
}

/**
 * `group[k]` is candidate k's result group, or null when it failed to run.
 * - majority: the largest group; a tie goes to the group whose candidates' log-probabilities
 *   sum highest, then to the group seen first; the group's first candidate is chosen.
 * - first-valid: the first candidate that runs.
 * - logprob: the candidate with the highest log-probability among those that run (first on a tie).
 * When none runs: the first candidate of the last round asked (predict's own answer).
 */
export function choose(cands: Candidate[], group: Array<number | null>, strategy: Strategy): Choice {
  const size = new Map<number, number>();
  const mass = new Map<number, number>();
  group.forEach((g, k) => {
    if (g === null) return;
    size.set(g, (size.get(g) ?? 0) + 1);
    mass.set(g, (mass.get(g) ?? 0) + cands[k]!.logprob);
  });
  const support = (k: number) => (group[k] === null ? 0 : size.get(group[k]!)!);
  const valid = group.flatMap((g, k) => (g === null ? [] : [k]));
  if (valid.length === 0) {
    const last = Math.max(...cands.map((c) => c.round));
    return { chosen: cands.findIndex((c) => c.round === last), support: 0 };
  }
  let chosen = valid[0]!;
  if (strategy === 'majority') {
    for (const k of valid) {
      const g = group[k]!;
      const best = group[chosen]!;
      if (size.get(g)! > size.get(best)! || (size.get(g) === size.get(best) && mass.get(g)! > mass.get(best)!)) chosen = k;
    }
  } else if (strategy === 'logprob') {
    for (const k of valid) if (cands[k]!.logprob > cands[chosen]!.logprob) chosen = k;
  }
  return { chosen, support: support(chosen) };
}
