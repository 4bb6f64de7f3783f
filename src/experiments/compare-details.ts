// What `flow compare` and the comparison report say beside the metric table:
// - whether the numbers may stand side by side at all: each evaluation's
//   recorded provenance (metrics.json's `provenance` block, read as plain
//   fields), refused when the fields differ unless the user insists;
// - what differs between the rows: the params, the final training loss and the
//   time the steps took (as `dvc exp show` puts them beside the metrics);
// - how sure a difference is: each row against the first on the items both
//   scored (paired bootstrap interval of the difference, McNemar's exact
//   p-value), overall and per group the evaluation step named for its items;
// - repeats over a `seed` matrix axis: mean ± std and range;
// - the items on which two rows disagree, with their texts.
// Nothing here knows Spider: groups, verdicts and texts come from the items.

import type { DB } from '../store/db.js';
import { type CompareRow, type CompareTable } from './compare.js';
import { type ResultItem, readItems } from './items.js';
import { finalLoss } from './metrics-diff.js';
import { ExperimentError, type ExecRecord, executionsOf, findRun, savedMsOf, variantText } from './records.js';
import { recipeSteps } from './run-steps.js';
import {
  ALPHA,
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  type PairedComparison,
  type Spread,
  comparePaired,
  spread,
} from './stats.js';

/** A comparison flow will not make as asked (numbers measured differently, nothing in common): exit 2. */
export class RefusedError extends ExperimentError {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

/** The flag that sets numbers of differing provenance side by side anyway. */
export const IGNORE_PROVENANCE = '--ignore-provenance';

export interface RowInfo {
  label: string;
  /** The run's params with the row's variant over them. */
  params: Record<string, unknown>;
  finalLoss: number | null;
  /** Time of the steps behind the row (the original's time for a cache hit); null when none finished. */
  durationMs: number | null;
  /** The evaluation's provenance as dotted fields; null when it recorded none (scored before flow did). */
  provenance: Record<string, string> | null;
}

export interface GroupComparison extends PairedComparison {
  /** 'all', or a group the evaluation named ('easy', or 'hardness=easy' when it named several kinds). */
  group: string;
}

export interface PairComparison {
  a: string;
  b: string;
  groups: GroupComparison[];
  /** Why there are no statistics for this pair (no per-item results, gold files differ). */
  note?: string;
}

export interface SeedSpread {
  /** The rows' variant without its seed. */
  label: string;
  seeds: unknown[];
  values: Record<string, Spread>;
}

export interface CompareDetails {
  /** Names of the params whose values differ between rows. */
  params: string[];
  rows: RowInfo[];
  /** Provenance fields equal in every row that recorded one. */
  provenance: Record<string, string> | null;
  /** Fields that differ, with each row's value (null: not recorded); non-empty only with ignoreProvenance. */
  provenanceDiffers: Array<{ field: string; values: Array<string | null> }>;
  /** Rows whose evaluation recorded no provenance. */
  provenanceUnknown: string[];
  pairs: PairComparison[];
  /** Why there are no paired statistics at all (no row has per-item results). */
  statsNote?: string;
  seeds: SeedSpread[];
  bootstrap: { resamples: number; seed: number; level: number; alpha: number };
}

export interface DetailOptions {
  /** Set side by side numbers whose provenance differs (marked loudly) instead of refusing. */
  ignoreProvenance?: boolean;
}

/**
 * Provenance fields that may differ between comparable numbers: how many items were scored
 * (`items.*`), and which metrics were computed (`etype`: EX is the same number with or without EM).
 */
const MAY_DIFFER = /^(items\.|etype$)/;

interface RowSource {
  row: CompareRow;
  exec: ExecRecord;
  runExecs: ExecRecord[];
  runParams: Record<string, unknown>;
  /** Step id -> the steps it depends on directly, from the run's recipe; undefined when it cannot be read. */
  needs: Map<string, string[]> | undefined;
}

function sources(db: DB, table: CompareTable): RowSource[] {
  const byRun = new Map<string, Omit<RowSource, 'row' | 'exec'>>();
  return table.rows.map((row) => {
    let run = byRun.get(row.runId);
    if (!run) {
      const r = findRun(db, row.runId);
      const steps = recipeSteps(r.recipe, r.argv);
      run = { runExecs: executionsOf(db, r.id), runParams: r.params, needs: steps && new Map(steps.all.map((s) => [s.id, s.needs])) };
      byRun.set(row.runId, run);
    }
    const exec = run.runExecs.find((e) => e.stepId === row.stepId && (e.status === 'done' || e.status === 'cached'));
    if (!exec) throw new ExperimentError(`run ${row.runId} has no finished ${row.stepId}`);
    return { row, exec, ...run };
  });
}

/** Every variant value of `part` is the same in `whole` (a shared step's null variant is part of any). */
const variantPart = (part: Record<string, unknown> | null, whole: Record<string, unknown> | null) =>
  Object.entries(part ?? {}).every(([k, v]) => JSON.stringify(whole?.[k]) === JSON.stringify(v));

/**
 * The steps behind a row's evaluation: itself and everything upstream of it in the recipe's
 * graph (so a run's baseline_eval is not credited with the fine-tuning's loss and time); where
 * the recipe cannot be read any more, the run's steps of the same variant or shared.
 */
function behind(s: RowSource): ExecRecord[] {
  const finished = s.runExecs.filter((e) => e.status === 'done' || e.status === 'cached');
  if (!s.needs?.has(s.exec.stepId)) return finished.filter((e) => variantPart(e.variant, s.exec.variant));
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const n of s.needs!.get(id) ?? []) visit(n);
  };
  visit(s.exec.stepId);
  return finished.filter((e) => seen.has(e.stepId));
}

/** Dotted string fields of a nested object: {database: {digest: 'x'}} -> {'database.digest': 'x'}. */
function flatFields(obj: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) flatFields(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = typeof obj === 'string' ? obj : JSON.stringify(obj);
  return out;
}

function rowInfo(db: DB, s: RowSource): RowInfo {
  const own = behind(s);
  let loss: number | null = null;
  for (const e of own) loss = finalLoss(db, e) ?? loss;
  const times = own.map((e) => (e.status === 'cached' ? savedMsOf(db, e) : (e.durationMs ?? 0)));
  const prov = s.exec.metrics?.provenance;
  return {
    label: s.row.label,
    params: { ...s.runParams, ...(s.exec.variant ?? {}) },
    finalLoss: loss,
    durationMs: own.length ? times.reduce((x, y) => x + y, 0) : null,
    provenance: prov && typeof prov === 'object' ? flatFields(prov) : null,
  };
}

/** A value short enough for one line: digests cut to 12 characters. */
export function shortValue(v: string | null): string {
  if (v === null) return 'not recorded';
  const digest = /^([a-z-]+:)?([0-9a-f]{16,})$/.exec(v);
  return digest ? `${digest[1] ?? ''}${digest[2]!.slice(0, 12)}…` : v;
}

function checkProvenance(rows: RowInfo[], opts: DetailOptions): Pick<CompareDetails, 'provenance' | 'provenanceDiffers' | 'provenanceUnknown'> {
  const known = rows.filter((r) => r.provenance);
  const fields = [...new Set(known.flatMap((r) => Object.keys(r.provenance!)))];
  const differs: CompareDetails['provenanceDiffers'] = [];
  const shared: Record<string, string> = {};
  for (const f of fields) {
    const values = rows.map((r) => (r.provenance ? (r.provenance[f] ?? null) : null));
    const seen = new Set(known.map((r) => r.provenance![f] ?? null));
    if (seen.size > 1 && !MAY_DIFFER.test(f)) differs.push({ field: f, values });
    else if (seen.size === 1) shared[f] = [...seen][0] ?? 'not recorded';
  }
  if (differs.length && !opts.ignoreProvenance) {
    const what = differs.map((d) => `${d.field} (${[...new Set(d.values.filter((v) => v !== null).map(shortValue))].join(' vs ')})`);
    throw new RefusedError(
      `refusing to compare numbers measured differently: ${what.join(', ')}; ${IGNORE_PROVENANCE} sets them side by side anyway`,
    );
  }
  return {
    provenance: known.length ? shared : null,
    provenanceDiffers: differs,
    provenanceUnknown: rows.filter((r) => !r.provenance).map((r) => r.label),
  };
}

/** The metric's 0/1 verdict of an item, or null where it was not scored. */
function verdict(item: ResultItem, metric: string): number | null {
  const v = item[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Items by their place in the gold file (the line order where an item has no index). */
function byIndex(items: ResultItem[]): Map<number, ResultItem> {
  return new Map(items.map((it, i) => [typeof it.index === 'number' ? it.index : i, it]));
}

/**
 * The items two evaluations both scored: same place, same gold text where both recorded it
 * (so two gold files of equal length never pair item 3 with another question's item 3).
 */
function paired(a: ResultItem[], b: ResultItem[], metric: string): Array<[ResultItem, ResultItem]> {
  const ib = byIndex(b);
  const out: Array<[ResultItem, ResultItem]> = [];
  for (const [i, x] of byIndex(a)) {
    const y = ib.get(i);
    if (!y || verdict(x, metric) === null || verdict(y, metric) === null) continue;
    if (typeof x.gold === 'string' && typeof y.gold === 'string' && x.gold !== y.gold) continue;
    out.push([x, y]);
  }
  return out;
}

function groupsOf(item: ResultItem): Record<string, string> {
  if (item.groups && typeof item.groups === 'object') return item.groups;
  return {};
}

function comparePair(
  metric: string,
  a: { info: RowInfo; items: ResultItem[] | undefined },
  b: { info: RowInfo; items: ResultItem[] | undefined },
  columnOrder: string[],
): PairComparison {
  const out: PairComparison = { a: a.info.label, b: b.info.label, groups: [] };
  if (!a.items || !b.items) {
    const without = [a, b].filter((x) => !x.items).map((x) => x.info.label);
    out.note = `no per-item results for ${without.join(', ')} (not recorded, or removed by flow gc): no interval or p-value`;
    return out;
  }
  const goldA = a.info.provenance?.['gold.digest'];
  const goldB = b.info.provenance?.['gold.digest'];
  if (goldA && goldB && goldA !== goldB) {
    out.note = `the gold files differ (${shortValue(goldA)} vs ${shortValue(goldB)}): the items cannot be paired`;
    return out;
  }
  const pairs = paired(a.items, b.items, metric);
  if (pairs.length === 0) {
    throw new RefusedError(`${a.info.label} and ${b.info.label} have no scored items in common: there is nothing to compare them on`);
  }
  const stat = (group: string, ps: Array<[ResultItem, ResultItem]>): GroupComparison => ({
    group,
    ...comparePaired(
      ps.map(([x]) => verdict(x, metric)!),
      ps.map(([, y]) => verdict(y, metric)!),
    ),
  });
  out.groups.push(stat('all', pairs));
  // Each kind of group the step named (one for sql-eval: hardness), its values in the table's column order.
  const kinds = [...new Set(pairs.flatMap(([x]) => Object.keys(groupsOf(x))))];
  for (const kind of kinds) {
    const values = [...new Set(pairs.map(([x]) => groupsOf(x)[kind]).filter((v): v is string => typeof v === 'string'))];
    const rank = (v: string) => (columnOrder.includes(v) ? columnOrder.indexOf(v) : columnOrder.length);
    values.sort((x, y) => rank(x) - rank(y));
    for (const v of values) {
      const ps = pairs.filter(([x]) => groupsOf(x)[kind] === v);
      out.groups.push(stat(kinds.length > 1 ? `${kind}=${v}` : v, ps));
    }
  }
  return out;
}

function seedSpreads(table: CompareTable): SeedSpread[] {
  const groups = new Map<string, CompareRow[]>();
  for (const r of table.rows) {
    if (!r.variant || !('seed' in r.variant)) continue;
    const { seed: _s, ...rest } = r.variant;
    const label = variantText(rest) || '(all)';
    groups.set(label, [...(groups.get(label) ?? []), r]);
  }
  const out: SeedSpread[] = [];
  for (const [label, rows] of groups) {
    if (rows.length < 2) continue;
    const values: Record<string, Spread> = {};
    for (const c of table.columns) {
      const xs = rows.map((r) => r.values[c]).filter((v): v is number => v !== null && v !== undefined);
      if (xs.length) values[c] = spread(xs);
    }
    out.push({ label, seeds: rows.map((r) => r.variant!.seed), values });
  }
  return out;
}

/** Everything beside the table; throws RefusedError for numbers that must not stand side by side. */
export function compareDetails(db: DB, table: CompareTable, opts: DetailOptions = {}): CompareDetails {
  const src = sources(db, table);
  const rows = src.map((s) => rowInfo(db, s));
  const prov = checkProvenance(rows, opts);
  const names = [...new Set(rows.flatMap((r) => Object.keys(r.params)))];
  const params = names.filter((n) => new Set(rows.map((r) => JSON.stringify(r.params[n] ?? null))).size > 1);
  const pairs: PairComparison[] = [];
  let statsNote: string | undefined;
  const items = table.metric === 'rouge' || rows.length < 2 ? [] : src.map((s) => (s.exec.outputs?.results ? readItems(s.exec.outputs.results) : undefined));
  if (items.length && items.every((x) => x === undefined)) {
    statsNote = 'No per-item results recorded for these evaluations (or removed by flow gc): no interval or p-value';
  } else if (items.length) {
    for (let i = 1; i < rows.length; i++) {
      pairs.push(comparePair(table.metric, { info: rows[0]!, items: items[0] }, { info: rows[i]!, items: items[i] }, table.columns));
    }
  }
  return {
    params,
    rows,
    ...prov,
    pairs,
    ...(statsNote ? { statsNote } : {}),
    seeds: seedSpreads(table),
    bootstrap: { resamples: BOOTSTRAP_RESAMPLES, seed: BOOTSTRAP_SEED, level: 0.95, alpha: ALPHA },
  };
}

export interface DisagreeingItem {
  index: number;
  group: string;
  question?: string;
  gold?: string;
  predA?: string;
  predB?: string;
}

/** The items A gets right and B wrong, and the other way round (the table's first two rows). */
export function disagreements(db: DB, table: CompareTable): { a: string; b: string; onlyA: DisagreeingItem[]; onlyB: DisagreeingItem[] } {
  if (table.rows.length !== 2) {
    throw new RefusedError(`the per-item view compares two evaluations; this comparison has ${table.rows.length} (name two runs with one evaluation each)`);
  }
  if (table.metric === 'rouge') throw new RefusedError('the per-item view needs a right/wrong verdict per item (ex or em), not rouge');
  const [sa, sb] = sources(db, table);
  const read = (s: RowSource) => {
    const items = s.exec.outputs?.results ? readItems(s.exec.outputs.results) : undefined;
    if (!items) throw new ExperimentError(`${s.row.label}: no per-item results (not recorded, or removed by flow gc)`);
    return items;
  };
  const pairs = paired(read(sa!), read(sb!), table.metric);
  if (pairs.length === 0) throw new RefusedError(`${sa!.row.label} and ${sb!.row.label} have no scored items in common`);
  const item = ([x, y]: [ResultItem, ResultItem]): DisagreeingItem => ({
    index: typeof x.index === 'number' ? x.index : -1,
    group: Object.values(groupsOf(x)).join(' '),
    question: x.question,
    gold: x.gold,
    predA: x.pred,
    predB: y.pred,
  });
  const right = (it: ResultItem) => verdict(it, table.metric)! > 0;
  return {
    a: sa!.row.label,
    b: sb!.row.label,
    onlyA: pairs.filter(([x, y]) => right(x) && !right(y)).map(item),
    onlyB: pairs.filter(([x, y]) => !right(x) && right(y)).map(item),
  };
}
