// Python value semantics for SQLite results, so result comparison matches the
// official evaluator: INTEGER arrives as bigint (Python int), REAL as number
// (Python float), TEXT as string, BLOB as Uint8Array (bytes), NULL as null.

export type SqlValue = bigint | number | string | Uint8Array | null;
export type Row = SqlValue[];

/** Python's repr() of a float: shortest round-trip digits, exponent form outside 1e-4 <= |x| < 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, expStr] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const exp = Number(expStr);
  if (exp >= -5 && exp < 16) {
    // Python switches to exponent form when the decimal exponent is < -4 or >= 16.
    if (exp < -4) return sign + fmtExp(digits, exp);
    const point = exp + 1;
    if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
    if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
    return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  }
  return sign + fmtExp(digits, exp);
}

function fmtExp(digits: string, exp: number): string {
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = Math.abs(exp).toString().padStart(2, '0');
  return `${m}e${exp < 0 ? '-' : '+'}${e}`;
}

function pyBytesRepr(b: Uint8Array): string {
  let hasSingle = false;
  let hasDouble = false;
  for (const c of b) {
    if (c === 0x27) hasSingle = true;
    if (c === 0x22) hasDouble = true;
  }
  const q = hasSingle && !hasDouble ? '"' : "'";
  let s = '';
  for (const c of b) {
    if (c === 0x5c) s += '\\\\';
    else if (c === 0x27 && q === "'") s += "\\'";
    else if (c === 0x09) s += '\\t';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c < 0x20 || c >= 0x7f) s += '\\x' + c.toString(16).padStart(2, '0');
    else s += String.fromCharCode(c);
  }
  return `b${q}${s}${q}`;
}

/** str(x) + str(type(x)) as Python computes it: the sort key of the official unorder_row. */
export function pySortKey(v: SqlValue): string {
  if (v === null) return "None<class 'NoneType'>";
  if (typeof v === 'bigint') return `${v}<class 'int'>`;
  if (typeof v === 'number') return `${pyFloatRepr(v)}<class 'float'>`;
  if (typeof v === 'string') return `${v}<class 'str'>`;
  return `${pyBytesRepr(v)}<class 'bytes'>`;
}

/**
 * A string equal for two values exactly when Python's == says they are equal
 * (and so they hash alike): 1 == 1.0, no tolerance, case-sensitive strings.
 */
export function pyEqKey(v: SqlValue): string {
  if (v === null) return 'z';
  if (typeof v === 'bigint') return `n${v}`;
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return `n${BigInt(v)}`;
    return `f${pyFloatRepr(v)}`;
  }
  if (typeof v === 'string') return `s${v}`;
  return `b${Buffer.from(v).toString('hex')}`;
}

/** Key of a whole row (tuple equality). */
export function rowKey(row: readonly SqlValue[]): string {
  let k = '';
  for (const v of row) {
    const e = pyEqKey(v);
    k += `${e.length}:${e}`;
  }
  return k;
}

/** Python's default str ordering: by code point, not UTF-16 unit. */
export function pyStrCompare(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      const pa = a.codePointAt(i)!;
      const pb = b.codePointAt(i)!;
      return pa < pb ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : 1;
}
