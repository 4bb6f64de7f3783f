// Exact set match of evaluation.py: values dropped, DISTINCT dropped, columns
// mapped to their foreign-key representative, then component-wise comparison.
import { isSql, WHERE_OPS, type ColUnit, type CondUnit, type Condition, type Schema, type Sql, type TableUnit, type ValUnit } from './parse.js';

export const PARTIAL_TYPES = [
  'select',
  'select(no AGG)',
  'where',
  'where(no OP)',
  'group(no Having)',
  'group',
  'order',
  'and/or',
  'IUEN',
  'keywords',
] as const;
export type PartialType = (typeof PARTIAL_TYPES)[number];
export interface PartialScore {
  acc: number;
  rec: number;
  f1: number;
  label_total: number;
  pred_total: number;
}
export type PartialScores = Record<PartialType, PartialScore>;

/**
 * What the aggregation needs of an item's partial scores, flat: for each of
 * PARTIAL_TYPES in order, acc, rec, label_total and pred_total. One typed array
 * crosses the process boundary and is summed far more cheaply than ten objects
 * keyed by name (both were a visible share of the evaluator's own process).
 */
export type PartialVector = Float64Array;
export const PARTIAL_FIELDS = 4;

export function partialVector(p: PartialScores): PartialVector {
  const v = new Float64Array(PARTIAL_TYPES.length * PARTIAL_FIELDS);
  PARTIAL_TYPES.forEach((t, i) => {
    const s = p[t];
    const at = i * PARTIAL_FIELDS;
    v[at] = s.acc;
    v[at + 1] = s.rec;
    v[at + 2] = s.label_total;
    v[at + 3] = s.pred_total;
  });
  return v;
}

export interface TablesEntry {
  db_id: string;
  table_names_original: string[];
  column_names_original: Array<[number, string]>;
  foreign_keys: Array<[number, number]>;
  column_types?: string[];
  primary_keys?: Array<number | number[]>;
  table_names?: string[];
  column_names?: Array<[number, string]>;
}

/** build_foreign_key_map: each foreign-key group maps to its lowest column index. */
export function buildForeignKeyMap(entry: TablesEntry): Map<string, string> {
  const cols = entry.column_names_original.map(([t, c]) =>
    t >= 0 ? `__${entry.table_names_original[t]!.toLowerCase()}.${c.toLowerCase()}__` : '__all__',
  );
  // The official grouping puts a pair into the first set holding either end, without merging sets.
  const groups: Set<number>[] = [];
  for (const [k1, k2] of entry.foreign_keys) {
    let g = groups.find((s) => s.has(k1) || s.has(k2));
    if (!g) {
      g = new Set();
      groups.push(g);
    }
    g.add(k1);
    g.add(k2);
  }
  const map = new Map<string, string>();
  for (const g of groups) {
    const sorted = [...g].sort((a, b) => a - b);
    for (const i of sorted) map.set(cols[i]!, cols[sorted[0]!]!);
  }
  return map;
}

/** Python ==, for the tuples/lists/dicts of the parsed structure. */
export function pyEq(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => pyEq(x, b[i]));
  if (isSql(a) && isSql(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => pyEq((a as unknown as Record<string, unknown>)[k], (b as unknown as Record<string, unknown>)[k]));
  }
  return false;
}

const indexOfEq = (xs: unknown[], x: unknown) => xs.findIndex((y) => pyEq(x, y));
const condUnits = (c: Condition) => c.filter((_, i) => i % 2 === 0) as CondUnit[];
const condOps = (c: Condition) => c.filter((_, i) => i % 2 === 1) as string[];

// ---- rebuild (values and foreign keys)

function rebuildCondVal(c: Condition): Condition {
  return c.map((u, i) => {
    if (i % 2 === 1) return u;
    const [n, op, vu, v1, v2] = u as CondUnit;
    return [n, op, vu, isSql(v1) ? rebuildSqlVal(v1) : null, isSql(v2) ? rebuildSqlVal(v2) : null] as CondUnit;
  });
}

export function rebuildSqlVal(sql: Sql | null): Sql | null {
  if (!sql) return sql;
  sql.from.conds = rebuildCondVal(sql.from.conds);
  sql.having = rebuildCondVal(sql.having);
  sql.where = rebuildCondVal(sql.where);
  sql.intersect = rebuildSqlVal(sql.intersect);
  sql.except = rebuildSqlVal(sql.except);
  sql.union = rebuildSqlVal(sql.union);
  return sql;
}

export function buildValidColUnits(tableUnits: TableUnit[], schema: Schema): Set<string> {
  const prefixes = tableUnits.filter((t) => t[0] === 'table_unit').map((t) => (t[1] as string).slice(0, -2));
  const out = new Set<string>();
  for (const v of schema.idMap.values()) {
    const dot = v.indexOf('.');
    if (dot >= 0 && prefixes.includes(v.slice(0, dot))) out.add(v);
  }
  return out;
}

interface Ctx {
  valid: Set<string>;
  kmap: Map<string, string>;
}

function colUnit(cx: Ctx, cu: ColUnit | null): ColUnit | null {
  if (!cu) return cu;
  const [agg, col] = cu;
  const mapped = cx.kmap.has(col) && cx.valid.has(col) ? cx.kmap.get(col)! : col;
  return [agg, mapped, null];
}

function valUnit(cx: Ctx, vu: ValUnit): ValUnit {
  return [vu[0], colUnit(cx, vu[1])!, colUnit(cx, vu[2])];
}

function condCol(cx: Ctx, c: Condition): Condition {
  return c.map((u, i) => {
    if (i % 2 === 1) return u;
    const [n, op, vu, v1, v2] = u as CondUnit;
    return [n, op, valUnit(cx, vu), v1, v2] as CondUnit;
  });
}

export function rebuildSqlCol(cx: Ctx, sql: Sql | null): Sql | null {
  if (!sql) return sql;
  sql.select = [null, sql.select[1].map(([agg, vu]) => [agg, valUnit(cx, vu)] as [number, ValUnit])];
  // Table units hold a name or a sub-query, never a column tuple: unchanged, as in the official code.
  sql.from = { table_units: sql.from.table_units, conds: condCol(cx, sql.from.conds) };
  sql.where = condCol(cx, sql.where);
  sql.groupBy = sql.groupBy.map((cu) => colUnit(cx, cu)!);
  sql.orderBy = sql.orderBy.length === 0 ? sql.orderBy : [sql.orderBy[0], sql.orderBy[1].map((vu) => valUnit(cx, vu))];
  sql.having = condCol(cx, sql.having);
  sql.intersect = rebuildSqlCol(cx, sql.intersect);
  sql.except = rebuildSqlCol(cx, sql.except);
  sql.union = rebuildSqlCol(cx, sql.union);
  return sql;
}

/** Both rebuild passes of the official evaluate(); mutates and returns sql. */
export function rebuildForMatch(sql: Sql, schema: Schema, kmap: Map<string, string>): Sql {
  const valid = buildValidColUnits(sql.from.table_units, schema);
  return rebuildSqlCol({ valid, kmap }, rebuildSqlVal(sql))!;
}

// ---- component scores

function scores(cnt: number, predTotal: number, labelTotal: number): [number, number, number] {
  if (predTotal !== labelTotal) return [0, 0, 0];
  if (cnt === predTotal) return [1, 1, 1];
  return [0, 0, 0];
}

function evalSel(pred: Sql, label: Sql): [number, number, number, number] {
  const labelSel = [...label.select[1]];
  const labelWoAgg = labelSel.map((u) => u[1]) as unknown[];
  let cnt = 0;
  let cntWoAgg = 0;
  for (const unit of pred.select[1]) {
    const i = indexOfEq(labelSel, unit);
    if (i >= 0) {
      cnt++;
      labelSel.splice(i, 1);
    }
    const j = indexOfEq(labelWoAgg, unit[1]);
    if (j >= 0) {
      cntWoAgg++;
      labelWoAgg.splice(j, 1);
    }
  }
  return [label.select[1].length, pred.select[1].length, cnt, cntWoAgg];
}

function evalWhere(pred: Sql, label: Sql): [number, number, number, number] {
  const predConds = condUnits(pred.where);
  const labelConds = condUnits(label.where) as unknown[];
  const labelWoAgg = (labelConds as CondUnit[]).map((u) => u[2]) as unknown[];
  const labelTotal = labelConds.length;
  let cnt = 0;
  let cntWoAgg = 0;
  for (const unit of predConds) {
    const i = indexOfEq(labelConds, unit);
    if (i >= 0) {
      cnt++;
      labelConds.splice(i, 1);
    }
    const j = indexOfEq(labelWoAgg, unit[2]);
    if (j >= 0) {
      cntWoAgg++;
      labelWoAgg.splice(j, 1);
    }
  }
  return [labelTotal, predConds.length, cnt, cntWoAgg];
}

function evalGroup(pred: Sql, label: Sql): [number, number, number] {
  const strip = (c: string) => (c.includes('.') ? c.split('.')[1]! : c);
  const predCols = pred.groupBy.map((u) => strip(u[1]));
  const labelCols = label.groupBy.map((u) => strip(u[1]));
  let cnt = 0;
  for (const c of predCols) {
    const i = labelCols.indexOf(c);
    if (i >= 0) {
      cnt++;
      labelCols.splice(i, 1);
    }
  }
  return [label.groupBy.length, pred.groupBy.length, cnt];
}

function evalHaving(pred: Sql, label: Sql): [number, number, number] {
  const pt = pred.groupBy.length > 0 ? 1 : 0;
  const lt = label.groupBy.length > 0 ? 1 : 0;
  const same =
    pt === 1 &&
    lt === 1 &&
    pyEq(
      pred.groupBy.map((u) => u[1]),
      label.groupBy.map((u) => u[1]),
    ) &&
    pyEq(pred.having, label.having);
  return [lt, pt, same ? 1 : 0];
}

function evalOrder(pred: Sql, label: Sql): [number, number, number] {
  const pt = pred.orderBy.length > 0 ? 1 : 0;
  const lt = label.orderBy.length > 0 ? 1 : 0;
  const cnt =
    label.orderBy.length > 0 && pyEq(pred.orderBy, label.orderBy) && (pred.limit === null) === (label.limit === null) ? 1 : 0;
  return [lt, pt, cnt];
}

function evalAndOr(pred: Sql, label: Sql): [number, number, number] {
  const p = new Set(condOps(pred.where));
  const l = new Set(condOps(label.where));
  if (p.size === l.size && [...p].every((x) => l.has(x))) return [1, 1, 1];
  // The official code returns (pred, label) here while callers read (label, pred).
  return [p.size, l.size, 0];
}

function evalIUEN(pred: Sql, label: Sql): [number, number, number] {
  let lt = 0;
  let pt = 0;
  let cnt = 0;
  for (const k of ['intersect', 'except', 'union'] as const) {
    const p = pred[k];
    const l = label[k];
    if (p) pt++;
    if (l) lt++;
    if (p && l) cnt += exactMatch(p, l).exact;
  }
  return [lt, pt, cnt];
}

function keywords(sql: Sql): Set<string> {
  const res = new Set<string>();
  if (sql.where.length > 0) res.add('where');
  if (sql.groupBy.length > 0) res.add('group');
  if (sql.having.length > 0) res.add('having');
  if (sql.orderBy.length > 0) {
    res.add(sql.orderBy[0]!);
    res.add('order');
  }
  if (sql.limit !== null) res.add('limit');
  if (sql.except) res.add('except');
  if (sql.union) res.add('union');
  if (sql.intersect) res.add('intersect');
  const ao = [...condOps(sql.from.conds), ...condOps(sql.where), ...condOps(sql.having)];
  if (ao.includes('or')) res.add('or');
  const cus = [...condUnits(sql.from.conds), ...condUnits(sql.where), ...condUnits(sql.having)];
  if (cus.some((c) => c[0])) res.add('not');
  if (cus.some((c) => c[1] === WHERE_OPS.indexOf('in'))) res.add('in');
  if (cus.some((c) => c[1] === WHERE_OPS.indexOf('like'))) res.add('like');
  return res;
}

function evalKeywords(pred: Sql, label: Sql): [number, number, number] {
  const pk = keywords(pred);
  const lk = keywords(label);
  return [lk.size, pk.size, [...pk].filter((k) => lk.has(k)).length];
}

export function partialMatch(pred: Sql, label: Sql): PartialScores {
  const res = {} as PartialScores;
  const put = (name: PartialType, cnt: number, pt: number, lt: number) => {
    const [acc, rec, f1] = scores(cnt, pt, lt);
    res[name] = { acc, rec, f1, label_total: lt, pred_total: pt };
  };
  let [lt, pt, cnt, cnt2] = evalSel(pred, label);
  put('select', cnt, pt, lt);
  put('select(no AGG)', cnt2, pt, lt);
  [lt, pt, cnt, cnt2] = evalWhere(pred, label);
  put('where', cnt, pt, lt);
  put('where(no OP)', cnt2, pt, lt);
  [lt, pt, cnt] = evalGroup(pred, label);
  put('group(no Having)', cnt, pt, lt);
  [lt, pt, cnt] = evalHaving(pred, label);
  put('group', cnt, pt, lt);
  [lt, pt, cnt] = evalOrder(pred, label);
  put('order', cnt, pt, lt);
  [lt, pt, cnt] = evalAndOr(pred, label);
  put('and/or', cnt, pt, lt);
  [lt, pt, cnt] = evalIUEN(pred, label);
  put('IUEN', cnt, pt, lt);
  [lt, pt, cnt] = evalKeywords(pred, label);
  put('keywords', cnt, pt, lt);
  return res;
}

/** Python's ordering of table units: by type name, then by name (sub-queries compare by their JSON here). */
function tableUnitCmp(a: TableUnit, b: TableUnit): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  const x = typeof a[1] === 'string' ? a[1] : JSON.stringify(a[1]);
  const y = typeof b[1] === 'string' ? b[1] : JSON.stringify(b[1]);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** eval_exact_match on rebuilt structures: 1 when every component's F1 is 1 and the FROM tables agree. */
export function exactMatch(pred: Sql, label: Sql): { exact: number; partial: PartialScores } {
  const partial = partialMatch(pred, label);
  for (const t of PARTIAL_TYPES) if (partial[t].f1 !== 1) return { exact: 0, partial };
  if (label.from.table_units.length > 0) {
    const l = [...label.from.table_units].sort(tableUnitCmp);
    const p = [...pred.from.table_units].sort(tableUnitCmp);
    return { exact: pyEq(l, p) ? 1 : 0, partial };
  }
  return { exact: 1, partial };
}
