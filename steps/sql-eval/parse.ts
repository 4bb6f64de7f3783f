// Spider's clause structure (process_sql.py): the SQL parsed against a schema
// into select/from/where/groupBy/having/orderBy/limit/IUE, with columns named
// '__table.column__'. Python's failure modes (IndexError, KeyError, failed
// asserts) are all SpiderParseError, so a prediction the official parser
// rejects is rejected here too.
import { pyAt, SpiderParseError, tokenizeSql } from './tokenize.js';

export const CLAUSE_KEYWORDS = ['select', 'from', 'where', 'group', 'order', 'limit', 'intersect', 'union', 'except'];
export const JOIN_KEYWORDS = ['join', 'on', 'as'];
export const WHERE_OPS = ['not', 'between', '=', '>', '<', '>=', '<=', '!=', 'in', 'like', 'is', 'exists'];
export const UNIT_OPS = ['none', '-', '+', '*', '/'];
export const AGG_OPS = ['none', 'max', 'min', 'count', 'sum', 'avg'];
const COND_OPS = ['and', 'or'];
export const SQL_OPS = ['intersect', 'union', 'except'] as const;
const ORDER_OPS = ['desc', 'asc'];

/** [agg_id, col_id, isDistinct]; isDistinct becomes null once rebuilt for matching. */
export type ColUnit = [number, string, boolean | null];
export type ValUnit = [number, ColUnit, ColUnit | null];
export type TableUnit = ['table_unit', string] | ['sql', Sql];
export type Value = number | string | Sql | ColUnit | null;
export type CondUnit = [boolean, number, ValUnit, Value, Value];
export type Condition = Array<CondUnit | 'and' | 'or'>;
export interface Sql {
  select: [boolean | null, Array<[number, ValUnit]>];
  from: { table_units: TableUnit[]; conds: Condition };
  where: Condition;
  groupBy: ColUnit[];
  having: Condition;
  orderBy: [] | [string, ValUnit[]];
  limit: number | null;
  intersect: Sql | null;
  except: Sql | null;
  union: Sql | null;
}

export function isSql(v: unknown): v is Sql {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Table -> lower-cased column names, in the database's order, and the id map built from it. */
export class Schema {
  readonly idMap = new Map<string, string>([['*', '__all__']]);
  constructor(readonly tables: Map<string, string[]>) {
    for (const [t, cols] of tables) {
      for (const c of cols) this.idMap.set(`${t.toLowerCase()}.${c.toLowerCase()}`, `__${t.toLowerCase()}.${c.toLowerCase()}__`);
    }
    for (const t of tables.keys()) this.idMap.set(t.toLowerCase(), `__${t.toLowerCase()}__`);
  }
}

function need(cond: boolean, what: string): void {
  if (!cond) throw new SpiderParseError(what);
}

function get<K, V>(m: Map<K, V>, k: K): V {
  const v = m.get(k);
  if (v === undefined) throw new SpiderParseError(`KeyError ${String(k)}`);
  return v;
}

const DIGITS = '\\d(?:_?\\d)*';
const PY_FLOAT = new RegExp(`^[+-]?(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?$`);

/** Python float(): decimal literal with optional underscores, or inf/infinity/nan. */
function pyFloat(tok: string): number | undefined {
  const t = tok.trim();
  const m = /^([+-]?)(inf|infinity|nan)$/i.exec(t);
  if (m) return m[2]!.toLowerCase() === 'nan' ? NaN : m[1] === '-' ? -Infinity : Infinity;
  if (!PY_FLOAT.test(t)) return undefined;
  return Number(t.replace(/_/g, ''));
}

type Aliases = Map<string, string>;

class Parser {
  constructor(
    private readonly toks: string[],
    private readonly aliases: Aliases,
    private readonly schema: Schema,
  ) {}

  private t(i: number): string {
    return pyAt(this.toks, i);
  }

  parseCol(toks: string[], start: number, defaults: string[] | null): [number, string] {
    const tok = pyAt(toks, start);
    if (tok === '*') return [start + 1, get(this.schema.idMap, tok)];
    if (tok.includes('.')) {
      const parts = tok.split('.');
      need(parts.length === 2, 'too many values to unpack');
      const key = get(this.aliases, parts[0]!) + '.' + parts[1]!;
      return [start + 1, get(this.schema.idMap, key)];
    }
    need(defaults !== null && defaults.length > 0, 'Default tables should not be None or empty');
    for (const alias of defaults!) {
      const table = get(this.aliases, alias);
      if (get(this.schema.tables, table).includes(tok)) return [start + 1, get(this.schema.idMap, `${table}.${tok}`)];
    }
    throw new SpiderParseError(`Error col: ${tok}`);
  }

  parseColUnit(toks: string[], start: number, defaults: string[] | null): [number, ColUnit] {
    let idx = start;
    const len = toks.length;
    let isBlock = false;
    let isDistinct = false;
    if (pyAt(toks, idx) === '(') {
      isBlock = true;
      idx++;
    }
    if (AGG_OPS.includes(pyAt(toks, idx))) {
      const agg = AGG_OPS.indexOf(pyAt(toks, idx));
      idx++;
      need(idx < len && toks[idx] === '(', 'agg (');
      idx++;
      if (pyAt(toks, idx) === 'distinct') {
        idx++;
        isDistinct = true;
      }
      let col: string;
      [idx, col] = this.parseCol(toks, idx, defaults);
      need(idx < len && toks[idx] === ')', 'agg )');
      idx++;
      return [idx, [agg, col, isDistinct]];
    }
    if (pyAt(toks, idx) === 'distinct') {
      idx++;
      isDistinct = true;
    }
    let col: string;
    [idx, col] = this.parseCol(toks, idx, defaults);
    if (isBlock) {
      need(pyAt(toks, idx) === ')', ')');
      idx++;
    }
    return [idx, [0, col, isDistinct]];
  }

  parseValUnit(start: number, defaults: string[] | null): [number, ValUnit] {
    let idx = start;
    const len = this.toks.length;
    let isBlock = false;
    if (this.t(idx) === '(') {
      isBlock = true;
      idx++;
    }
    let c1: ColUnit;
    let c2: ColUnit | null = null;
    let op = 0;
    [idx, c1] = this.parseColUnit(this.toks, idx, defaults);
    if (idx < len && UNIT_OPS.includes(this.toks[idx]!)) {
      op = UNIT_OPS.indexOf(this.toks[idx]!);
      idx++;
      [idx, c2] = this.parseColUnit(this.toks, idx, defaults);
    }
    if (isBlock) {
      need(this.t(idx) === ')', ')');
      idx++;
    }
    return [idx, [op, c1, c2]];
  }

  parseTableUnit(start: number): [number, string, string] {
    let idx = start;
    const key = get(this.aliases, this.t(idx));
    if (idx + 1 < this.toks.length && this.toks[idx + 1] === 'as') idx += 3;
    else idx += 1;
    return [idx, get(this.schema.idMap, key), key];
  }

  parseValue(start: number, defaults: string[] | null): [number, Value] {
    let idx = start;
    const len = this.toks.length;
    let isBlock = false;
    if (this.t(idx) === '(') {
      isBlock = true;
      idx++;
    }
    let val: Value;
    const tok = this.t(idx);
    if (tok === 'select') {
      [idx, val] = this.parseSql(idx);
    } else if (tok.includes('"')) {
      val = tok;
      idx++;
    } else {
      const f = pyFloat(tok);
      if (f !== undefined) {
        val = f;
        idx++;
      } else {
        let end = idx;
        while (
          end < len &&
          this.toks[end] !== ',' &&
          this.toks[end] !== ')' &&
          this.toks[end] !== 'and' &&
          !CLAUSE_KEYWORDS.includes(this.toks[end]!) &&
          !JOIN_KEYWORDS.includes(this.toks[end]!)
        ) {
          end++;
        }
        // Python slices from start_idx (before any '('), as the official code does.
        [, val] = this.parseColUnit(this.toks.slice(start, end), 0, defaults);
        idx = end;
      }
    }
    if (isBlock) {
      need(this.t(idx) === ')', ')');
      idx++;
    }
    return [idx, val];
  }

  parseCondition(start: number, defaults: string[] | null): [number, Condition] {
    let idx = start;
    const len = this.toks.length;
    const conds: Condition = [];
    while (idx < len) {
      let vu: ValUnit;
      [idx, vu] = this.parseValUnit(idx, defaults);
      let notOp = false;
      if (this.t(idx) === 'not') {
        notOp = true;
        idx++;
      }
      need(idx < len && WHERE_OPS.includes(this.toks[idx]!), 'Error condition');
      const op = WHERE_OPS.indexOf(this.toks[idx]!);
      idx++;
      let v1: Value = null;
      let v2: Value = null;
      if (op === WHERE_OPS.indexOf('between')) {
        [idx, v1] = this.parseValue(idx, defaults);
        need(this.t(idx) === 'and', 'between and');
        idx++;
        [idx, v2] = this.parseValue(idx, defaults);
      } else {
        [idx, v1] = this.parseValue(idx, defaults);
      }
      conds.push([notOp, op, vu, v1, v2]);
      if (idx < len) {
        const t = this.toks[idx]!;
        if (CLAUSE_KEYWORDS.includes(t) || t === ')' || t === ';' || JOIN_KEYWORDS.includes(t)) break;
      }
      if (idx < len && COND_OPS.includes(this.toks[idx]!)) {
        conds.push(this.toks[idx] as 'and' | 'or');
        idx++;
      }
    }
    return [idx, conds];
  }

  parseSelect(start: number, defaults: string[]): [number, Sql['select']] {
    let idx = start;
    const len = this.toks.length;
    need(this.t(idx) === 'select', "'select' not found");
    idx++;
    let distinct = false;
    if (idx < len && this.toks[idx] === 'distinct') {
      idx++;
      distinct = true;
    }
    const units: Array<[number, ValUnit]> = [];
    while (idx < len && !CLAUSE_KEYWORDS.includes(this.toks[idx]!)) {
      let agg = 0;
      if (AGG_OPS.includes(this.toks[idx]!)) {
        agg = AGG_OPS.indexOf(this.toks[idx]!);
        idx++;
      }
      let vu: ValUnit;
      [idx, vu] = this.parseValUnit(idx, defaults);
      units.push([agg, vu]);
      if (idx < len && this.toks[idx] === ',') idx++;
    }
    return [idx, [distinct, units]];
  }

  parseFrom(start: number): [number, TableUnit[], Condition, string[]] {
    const fromAt = this.toks.indexOf('from', start);
    need(fromAt >= 0, "'from' not found");
    const len = this.toks.length;
    let idx = fromAt + 1;
    const defaults: string[] = [];
    const units: TableUnit[] = [];
    const conds: Condition = [];
    while (idx < len) {
      let isBlock = false;
      if (this.t(idx) === '(') {
        isBlock = true;
        idx++;
      }
      if (this.t(idx) === 'select') {
        let sql: Sql;
        [idx, sql] = this.parseSql(idx);
        units.push(['sql', sql]);
      } else {
        if (idx < len && this.toks[idx] === 'join') idx++;
        let unit: string;
        let name: string;
        [idx, unit, name] = this.parseTableUnit(idx);
        units.push(['table_unit', unit]);
        defaults.push(name);
      }
      if (idx < len && this.toks[idx] === 'on') {
        idx++;
        let these: Condition;
        [idx, these] = this.parseCondition(idx, defaults);
        if (conds.length > 0) conds.push('and');
        conds.push(...these);
      }
      if (isBlock) {
        need(this.t(idx) === ')', ')');
        idx++;
      }
      if (idx < len) {
        const t = this.toks[idx]!;
        if (CLAUSE_KEYWORDS.includes(t) || t === ')' || t === ';') break;
      }
    }
    return [idx, units, conds, defaults];
  }

  private endOfList(idx: number): boolean {
    const t = this.toks[idx]!;
    return CLAUSE_KEYWORDS.includes(t) || t === ')' || t === ';';
  }

  parseSql(start: number): [number, Sql] {
    let isBlock = false;
    const len = this.toks.length;
    let idx = start;
    if (this.t(idx) === '(') {
      isBlock = true;
      idx++;
    }
    const [fromEnd, tableUnits, fromConds, defaults] = this.parseFrom(start);
    const [, select] = this.parseSelect(idx, defaults);
    idx = fromEnd;
    let where: Condition = [];
    if (idx < len && this.toks[idx] === 'where') [idx, where] = this.parseCondition(idx + 1, defaults);
    const groupBy: ColUnit[] = [];
    if (idx < len && this.toks[idx] === 'group') {
      idx++;
      need(this.t(idx) === 'by', 'group by');
      idx++;
      while (idx < len && !this.endOfList(idx)) {
        let cu: ColUnit;
        [idx, cu] = this.parseColUnit(this.toks, idx, defaults);
        groupBy.push(cu);
        if (idx < len && this.toks[idx] === ',') idx++;
        else break;
      }
    }
    let having: Condition = [];
    if (idx < len && this.toks[idx] === 'having') [idx, having] = this.parseCondition(idx + 1, defaults);
    let orderBy: Sql['orderBy'] = [];
    if (idx < len && this.toks[idx] === 'order') {
      idx++;
      need(this.t(idx) === 'by', 'order by');
      idx++;
      let dir = 'asc';
      const units: ValUnit[] = [];
      while (idx < len && !this.endOfList(idx)) {
        let vu: ValUnit;
        [idx, vu] = this.parseValUnit(idx, defaults);
        units.push(vu);
        if (idx < len && ORDER_OPS.includes(this.toks[idx]!)) {
          dir = this.toks[idx]!;
          idx++;
        }
        if (idx < len && this.toks[idx] === ',') idx++;
        else break;
      }
      orderBy = [dir, units];
    }
    let limit: number | null = null;
    if (idx < len && this.toks[idx] === 'limit') {
      // The official parser never reads the number: tokens are strings, so LIMIT n is always 1.
      idx += 2;
      limit = 1;
    }
    idx = this.skipSemicolon(idx);
    if (isBlock) {
      need(this.t(idx) === ')', ')');
      idx++;
    }
    idx = this.skipSemicolon(idx);
    const sql: Sql = {
      select,
      from: { table_units: tableUnits, conds: fromConds },
      where,
      groupBy,
      having,
      orderBy,
      limit,
      intersect: null,
      except: null,
      union: null,
    };
    if (idx < len && (SQL_OPS as readonly string[]).includes(this.toks[idx]!)) {
      const op = this.toks[idx] as (typeof SQL_OPS)[number];
      idx++;
      let sub: Sql;
      [idx, sub] = this.parseSql(idx);
      sql[op] = sub;
    }
    return [idx, sql];
  }

  private skipSemicolon(idx: number): number {
    while (idx < this.toks.length && this.toks[idx] === ';') idx++;
    return idx;
  }
}

/** get_sql: throws SpiderParseError where the official parser raises. */
export function parseSpiderSql(schema: Schema, query: string): Sql {
  const toks = tokenizeSql(query);
  const aliases: Aliases = new Map();
  toks.forEach((t, i) => {
    if (t === 'as') aliases.set(pyAt(toks, i + 1), pyAt(toks, i - 1));
  });
  for (const key of schema.tables.keys()) {
    if (aliases.has(key)) throw new SpiderParseError(`Alias ${key} has the same name in table`);
    aliases.set(key, key);
  }
  return new Parser(toks, aliases, schema).parseSql(0)[1];
}

export function emptySql(): Sql {
  return {
    select: [false, []],
    from: { table_units: [], conds: [] },
    where: [],
    groupBy: [],
    having: [],
    orderBy: [],
    limit: null,
    intersect: null,
    except: null,
    union: null,
  };
}
