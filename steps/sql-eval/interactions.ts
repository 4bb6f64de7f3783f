// The official evaluator's interaction format (test-suite-sql-eval evaluation.py evaluate(), used
// by SParC and CoSQL and by single-turn files published with a blank line after each item): a
// blank line closes the current interaction, even an empty one (two blank lines make an empty
// interaction); a last interaction without a closing blank line counts too. A file with more than
// one interaction gets turn accuracies and the interaction (joint) accuracy; within an
// interaction, gold and predicted turns are paired by position and turns past the shorter side
// are not scored (Python's zip); the two files must hold the same number of interactions.
import { readFileSync } from 'node:fs';
import { StepError } from '../../src/steps/types.js';

export interface Line {
  text: string;
  /** 1-based line in its file. */
  line: number;
}

/** evaluation.py's grouping of a file's lines. */
export function groupLines(text: string): Line[][] {
  const out: Line[][] = [];
  let cur: Line[] = [];
  const lines = text.split('\n');
  // readlines() gives no extra line after a final newline.
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((l, i) => {
    if (l.trim() === '') {
      out.push(cur);
      cur = [];
    } else cur.push({ text: l.trim(), line: i + 1 });
  });
  if (cur.length) out.push(cur);
  return out;
}

export const TURNS = ['turn 1', 'turn 2', 'turn 3', 'turn 4', 'turn > 4'] as const;
export type Turn = (typeof TURNS)[number];
export const turnName = (t: number): Turn => TURNS[Math.min(t, 4)]!;

/** Where each gold item sits: its interaction and turn (0-based). */
export interface Place {
  interaction: number;
  turn: number;
}

export interface InteractionPlan {
  /** The number of interactions (empty ones included), the denominator of the joint accuracy. */
  interactions: number;
  places: Place[];
  /** Per gold item, its prediction; undefined where the official zip leaves the turn unscored. */
  preds: Array<string | undefined>;
}

/**
 * Gold items in an interaction-format file (more than one interaction) with the predictions paired
 * turn by turn, or null for a plain file. `goldLines` are the gold items' lines, in order.
 */
export function planInteractions(goldFile: string, goldLines: number[], predFile: string): InteractionPlan | null {
  const gold = groupLines(readFileSync(goldFile, 'utf8'));
  if (gold.length <= 1) return null;
  const pred = groupLines(readFileSync(predFile, 'utf8'));
  if (pred.length !== gold.length) {
    throw new StepError(
      `sql-eval: ${predFile} has ${pred.length} interactions (blank-line separated) but ${goldFile} has ${gold.length}; the official evaluator requires as many`,
    );
  }
  const at = new Map<number, { place: Place; pred?: string }>();
  gold.forEach((g, s) =>
    g.forEach((l, t) => at.set(l.line, { place: { interaction: s, turn: t }, pred: pred[s]![t]?.text.split('\t')[0] })),
  );
  const places: Place[] = [];
  const preds: Array<string | undefined> = [];
  for (const line of goldLines) {
    const x = at.get(line)!;
    places.push(x.place);
    preds.push(x.pred);
  }
  return { interactions: gold.length, places, preds };
}

/**
 * A single-turn predictions file with a blank line after every prediction, beside a plain gold
 * file: one prediction per gold item. null when the file is not that.
 */
export function blankSeparatedSingles(predFile: string, expected: number): string[] | null {
  const text = readFileSync(predFile, 'utf8');
  if (!/\n\s*\n/.test(text)) return null;
  const groups = groupLines(text);
  if (groups.length !== expected || groups.some((g) => g.length !== 1)) return null;
  return groups.map((g) => g[0]!.text.split('\t')[0]!);
}
