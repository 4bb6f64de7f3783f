// Aggregation as evaluation.py's evaluate(): accuracies per hardness level over
// the runnable items; partial-match acc/rec averaged over items where the
// component occurs in the prediction/gold, F1 from those averages.
import { PARTIAL_FIELDS, PARTIAL_TYPES, type PartialType } from './exact-match.js';
import { LEVELS } from './hardness.js';
import type { EvalOptions, ItemResult } from './options.js';
import type { Provenance } from './provenance.js';
import { TURNS, turnName, type Turn } from './interactions.js';

export const ALL_LEVELS = [...LEVELS, 'all'] as const;
export type Level = (typeof ALL_LEVELS)[number];
export type PerLevel = Record<Level, number>;

export interface Metrics {
  count: PerLevel;
  /** Hardness of every gold item, runnable or not (from tables.json where the database is absent). */
  count_all_items: PerLevel;
  ex?: PerLevel;
  em?: PerLevel;
  partial?: Record<PartialType, { acc: PerLevel; rec: PerLevel; f1: PerLevel }>;
  missing_db: number;
  /** Runnable items whose prediction failed (error, timeout, refused, empty, absent). */
  errors: number;
  rouge: { rouge1: number; rouge2: number; rougeL: number };
  string_match: number;
  /**
   * Interaction-format gold only (evaluation.py's include_turn_acc): accuracy per turn, and the
   * interaction (joint) accuracy, the share of interactions whose every scored turn is right.
   */
  turns?: Record<Turn, { count: number; ex?: number; em?: number }>;
  interaction?: { count: number; ex?: number; em?: number };
  etype: string;
  compat: string;
  plug_value: boolean;
  keep_distinct: boolean;
  /** How and on what the figures were measured (provenance.ts); added by the step. */
  provenance?: Provenance;
}

const zeros = (): PerLevel => ({ easy: 0, medium: 0, hard: 0, extra: 0, all: 0 });

export function aggregate(items: ItemResult[], o: Pick<EvalOptions, 'etype' | 'compat' | 'plugValue' | 'keepDistinct'>, interactions?: number): Metrics {
  const runnable = items.filter((i) => !i.missing_db);
  const count = zeros();
  const countAll = zeros();
  for (const it of items) {
    countAll[it.hardness]++;
    countAll.all++;
  }
  const ex = zeros();
  const em = zeros();
  // Partial sums by type and level, flat: [type][level] at type * LV + level.
  const LV = ALL_LEVELS.length;
  const ALL = ALL_LEVELS.indexOf('all');
  const pAcc = new Float64Array(PARTIAL_TYPES.length * LV);
  const pRec = new Float64Array(PARTIAL_TYPES.length * LV);
  const pAccN = new Float64Array(PARTIAL_TYPES.length * LV);
  const pRecN = new Float64Array(PARTIAL_TYPES.length * LV);
  for (const it of runnable) {
    const own = ALL_LEVELS.indexOf(it.hardness);
    for (const lv of [it.hardness, 'all'] as const) {
      count[lv]++;
      ex[lv] += it.ex ?? 0;
      em[lv] += it.em ?? 0;
    }
    const v = it.partial;
    if (!v) continue;
    for (const l of [own, ALL]) {
      for (let t = 0; t < PARTIAL_TYPES.length; t++) {
        const at = t * PARTIAL_FIELDS;
        const k = t * LV + l;
        // acc, rec, label_total, pred_total
        if (v[at + 3]! > 0) {
          pAcc[k] += v[at]!;
          pAccN[k]++;
        }
        if (v[at + 2]! > 0) {
          pRec[k] += v[at + 1]!;
          pRecN[k]++;
        }
      }
    }
  }
  const perLevel = (a: Float64Array, t: number): PerLevel => {
    const out = zeros();
    ALL_LEVELS.forEach((lv, l) => (out[lv] = a[t * LV + l]!));
    return out;
  };
  const div = (x: PerLevel, n: PerLevel): PerLevel => {
    const out = zeros();
    for (const lv of ALL_LEVELS) out[lv] = n[lv] === 0 ? 0 : x[lv] / n[lv];
    return out;
  };
  const m: Metrics = {
    count,
    count_all_items: countAll,
    missing_db: items.length - runnable.length,
    errors: runnable.filter((i) => i.error !== null).length,
    rouge: {
      rouge1: mean(items.map((i) => i.rouge1)),
      rouge2: mean(items.map((i) => i.rouge2)),
      rougeL: mean(items.map((i) => i.rougeL)),
    },
    string_match: mean(items.map((i) => i.string_match)),
    etype: o.etype,
    compat: o.compat,
    plug_value: o.plugValue,
    keep_distinct: o.keepDistinct,
  };
  if (o.etype !== 'match') m.ex = div(ex, count);
  if (o.etype !== 'exec') {
    m.em = div(em, count);
    m.partial = {} as NonNullable<Metrics['partial']>;
    PARTIAL_TYPES.forEach((t, i) => {
      const pa = div(perLevel(pAcc, i), perLevel(pAccN, i));
      const pr = div(perLevel(pRec, i), perLevel(pRecN, i));
      const f1 = zeros();
      for (const lv of ALL_LEVELS) f1[lv] = pa[lv] === 0 && pr[lv] === 0 ? 1 : (2 * pa[lv] * pr[lv]) / (pa[lv] + pr[lv]);
      m.partial![t] = { acc: pa, rec: pr, f1 };
    });
  }
  if (interactions !== undefined) Object.assign(m, interactionScores(runnable, interactions, o.etype));
  return m;
}

/** evaluation.py's turn and joint_all figures: an interaction with no scored turn counts as right (all([]) is true). */
function interactionScores(items: ItemResult[], interactions: number, etype: string): Pick<Metrics, 'turns' | 'interaction'> {
  const turns = Object.fromEntries(TURNS.map((t) => [t, { count: 0, ex: 0, em: 0 }])) as Record<Turn, { count: number; ex: number; em: number }>;
  const wrong = { ex: new Set<number>(), em: new Set<number>() };
  for (const it of items) {
    const t = turns[turnName(it.turn!)];
    t.count++;
    t.ex += it.ex ?? 0;
    t.em += it.em ?? 0;
    if (it.ex !== 1) wrong.ex.add(it.interaction!);
    if (it.em !== 1) wrong.em.add(it.interaction!);
  }
  const pick = (x: { count: number; ex: number; em: number }) => ({
    count: x.count,
    ...(etype !== 'match' ? { ex: x.count ? x.ex / x.count : 0 } : {}),
    ...(etype !== 'exec' ? { em: x.count ? x.em / x.count : 0 } : {}),
  });
  const out = Object.fromEntries(TURNS.map((t) => [t, pick(turns[t])])) as Record<Turn, { count: number; ex?: number; em?: number }>;
  const joint = { count: interactions, ex: interactions - wrong.ex.size, em: interactions - wrong.em.size };
  return { turns: out, interaction: pick(joint) };
}

function mean(xs: number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Markdown shaped like the official printout. */
export function renderReport(m: Metrics): string {
  const head = `|  | ${ALL_LEVELS.join(' | ')} |\n|---|${ALL_LEVELS.map(() => '---:').join('|')}|\n`;
  const row = (name: string, v: PerLevel, int = false) =>
    `| ${name} | ${ALL_LEVELS.map((l) => (int ? String(v[l]) : v[l].toFixed(3))).join(' | ')} |\n`;
  let s = `# SQL evaluation\n\netype \`${m.etype}\`, compat \`${m.compat}\`, plug_value ${m.plug_value}, keep_distinct ${m.keep_distinct}\n\n`;
  const p = m.provenance;
  if (p) {
    s += `gold \`${p.gold.digest.slice(0, 12)}\` (${p.gold.items} items); databases \`${p.database.digest.slice(0, 24)}\``;
    s += ` (${p.database.databases}, ${p.database.files_per_database.min}-${p.database.files_per_database.max} SQLite files each); timeout ${p.flags.timeout_s} s\n\n`;
  }
  s += head + row('count', m.count, true);
  if (m.missing_db > 0) s += `\n${m.missing_db} items have no database and are not counted above.\n`;
  if (m.ex) s += `\n## Execution accuracy\n\n${head}${row('execution', m.ex)}`;
  if (m.em && m.partial) {
    s += `\n## Exact matching accuracy\n\n${head}${row('exact match', m.em)}`;
    for (const k of ['acc', 'rec', 'f1'] as const) {
      const title = { acc: 'Partial matching accuracy', rec: 'Partial matching recall', f1: 'Partial matching F1' }[k];
      s += `\n## ${title}\n\n${head}`;
      for (const t of PARTIAL_TYPES) s += row(t, m.partial[t][k]);
    }
  }
  if (m.interaction && m.turns) {
    const cols = (f: (x: { count: number; ex?: number; em?: number }) => string) => TURNS.map((t) => f(m.turns![t])).join(' | ');
    s += `\n## Turns and interactions\n\n| | ${TURNS.join(' | ')} | interaction |\n|---|${TURNS.map(() => '---:').join('|')}|---:|\n`;
    s += `| count | ${cols((x) => String(x.count))} | ${m.interaction.count} |\n`;
    if (m.interaction.ex !== undefined) s += `| execution | ${cols((x) => x.ex!.toFixed(3))} | ${m.interaction.ex.toFixed(3)} |\n`;
    if (m.interaction.em !== undefined) s += `| exact match | ${cols((x) => x.em!.toFixed(3))} | ${m.interaction.em.toFixed(3)} |\n`;
  }
  s += `\n## String metrics (all items)\n\n| ROUGE-1 | ROUGE-2 | ROUGE-L | normalized string match |\n|---:|---:|---:|---:|\n`;
  s += `| ${m.rouge.rouge1.toFixed(3)} | ${m.rouge.rouge2.toFixed(3)} | ${m.rouge.rougeL.toFixed(3)} | ${m.string_match.toFixed(3)} |\n`;
  return s;
}
