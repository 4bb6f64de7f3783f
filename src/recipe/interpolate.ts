// Substitutes `${...}` references in recipe values. A string that is exactly
// one reference takes the referenced value's type (`rank: ${params.r}` stays a
// number); a reference inside a longer string is spliced in as text.

import { REF_PATTERN, parseRef, type Ref } from './refs.js';

export type RefResolver = (ref: Ref) => unknown;

export function interpolate(value: unknown, resolve: RefResolver): unknown {
  if (typeof value === 'string') return interpolateString(value, resolve);
  if (Array.isArray(value)) return value.map((v) => interpolate(v, resolve));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, resolve);
    return out;
  }
  return value;
}

function interpolateString(s: string, resolve: RefResolver): unknown {
  const whole = /^\$\{([^}]*)\}$/.exec(s);
  if (whole) return resolve(parseRef(whole[1]!, s));
  return s.replace(REF_PATTERN, (text, inner: string) => {
    const v = resolve(parseRef(inner, text));
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}
