// eval_hardness of evaluation.py, counting exactly as the code does (e.g. a
// NOT condition and every AND/OR in HAVING count as an "aggregation").
import { isSql, WHERE_OPS, type CondUnit, type Condition, type Sql } from './parse.js';

export type Hardness = 'easy' | 'medium' | 'hard' | 'extra';
export const LEVELS: Hardness[] = ['easy', 'medium', 'hard', 'extra'];

const LIKE = WHERE_OPS.indexOf('like');

/** has_agg(unit): unit[0] != 0 in Python, where False == 0 and a string's first letter is never 0. */
function hasAgg(unit: readonly unknown[] | string): boolean {
  if (typeof unit === 'string') return true;
  const first = unit[0];
  return first !== 0 && first !== false;
}

const condUnits = (c: Condition) => c.filter((_, i) => i % 2 === 0) as CondUnit[];
const condOps = (c: Condition) => c.filter((_, i) => i % 2 === 1);

export function nestedSqls(sql: Sql): Sql[] {
  const out: Sql[] = [];
  for (const cu of [...condUnits(sql.from.conds), ...condUnits(sql.where), ...condUnits(sql.having)]) {
    if (isSql(cu[3])) out.push(cu[3]);
    if (isSql(cu[4])) out.push(cu[4]);
  }
  if (sql.intersect) out.push(sql.intersect);
  if (sql.except) out.push(sql.except);
  if (sql.union) out.push(sql.union);
  return out;
}

function countComponent1(sql: Sql): number {
  let n = 0;
  if (sql.where.length > 0) n++;
  if (sql.groupBy.length > 0) n++;
  if (sql.orderBy.length > 0) n++;
  if (sql.limit !== null) n++;
  if (sql.from.table_units.length > 0) n += sql.from.table_units.length - 1;
  const ao = [...condOps(sql.from.conds), ...condOps(sql.where), ...condOps(sql.having)];
  n += ao.filter((t) => t === 'or').length;
  const cus = [...condUnits(sql.from.conds), ...condUnits(sql.where), ...condUnits(sql.having)];
  n += cus.filter((cu) => cu[1] === LIKE).length;
  return n;
}

function countOthers(sql: Sql): number {
  let n = 0;
  let agg = sql.select[1].filter(hasAgg).length;
  agg += condUnits(sql.where).filter(hasAgg).length;
  agg += sql.groupBy.filter(hasAgg).length;
  if (sql.orderBy.length > 0) {
    const vus = sql.orderBy[1]!;
    const units = [...vus.map((vu) => vu[1]).filter((u) => u), ...vus.map((vu) => vu[2]).filter((u) => u)];
    agg += units.filter((u) => hasAgg(u!)).length;
  }
  agg += sql.having.filter((u) => hasAgg(u)).length;
  if (agg > 1) n++;
  if (sql.select[1].length > 1) n++;
  if (sql.where.length > 1) n++;
  if (sql.groupBy.length > 1) n++;
  return n;
}

export function evalHardness(sql: Sql): Hardness {
  const c1 = countComponent1(sql);
  const c2 = nestedSqls(sql).length;
  const co = countOthers(sql);
  if (c1 <= 1 && co === 0 && c2 === 0) return 'easy';
  if ((co <= 2 && c1 <= 1 && c2 === 0) || (c1 <= 2 && co < 2 && c2 === 0)) return 'medium';
  if ((co > 2 && c1 <= 2 && c2 === 0) || (2 < c1 && c1 <= 3 && co <= 2 && c2 === 0) || (c1 <= 1 && co === 0 && c2 <= 1)) {
    return 'hard';
  }
  return 'extra';
}
