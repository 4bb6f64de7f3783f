// Why a step will run: the difference between the fingerprint it has now and
// the one its last successful execution had (wireit's "explain", Snakemake's -r).

import type { Fingerprint } from './fingerprint.js';

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s === undefined ? 'unset' : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function diffValues(a: unknown, b: unknown, path: string, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  const isObj = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x);
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of [...keys].sort()) {
      diffValues((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    }
    return;
  }
  if (a === undefined) out.push(`${path} added (${show(b)})`);
  else if (b === undefined) out.push(`${path} removed (was ${show(a)})`);
  else out.push(`${path} changed ${show(a)} → ${show(b)}`);
}

function diffDigests(prev: Record<string, string>, cur: Record<string, string>, what: (k: string) => string, out: string[]): void {
  const keys = new Set([...Object.keys(prev), ...Object.keys(cur)]);
  for (const k of [...keys].sort()) {
    if (prev[k] === cur[k]) continue;
    if (prev[k] === undefined) out.push(`${what(k)} added`);
    else if (cur[k] === undefined) out.push(`${what(k)} removed`);
    else out.push(`${what(k)} changed`);
  }
}

/** Human reasons; `cur.upstream` may be absent when upstream steps have not run yet. */
export function explainChange(prev: Fingerprint, cur: Omit<Fingerprint, 'upstream'> & { upstream?: Record<string, string> }): string[] {
  const out: string[] = [];
  if (prev.v !== cur.v) return ['flow changed how keys are computed'];
  if (prev.type !== cur.type) out.push(`step type changed ${prev.type} → ${cur.type}`);
  diffDigests(prev.impl, cur.impl, (k) => `implementation ${k}`, out);
  for (const [k, v] of Object.entries(cur.params)) {
    if (k in prev.params && JSON.stringify(prev.params[k]) !== JSON.stringify(v)) {
      out.push(`param ${k} changed ${show(prev.params[k])} → ${show(v)}`);
    }
  }
  const fieldDiffs: string[] = [];
  diffValues(prev.fields, cur.fields, '', fieldDiffs);
  out.push(...fieldDiffs);
  for (const [k, v] of Object.entries(cur.env)) {
    if (prev.env[k] !== v) out.push(`env ${k} changed`);
  }
  diffDigests(prev.inputs, cur.inputs, (k) => `input ${k.replace(/^inputs\./, '').replace(/^with\./, 'with.')}`, out);
  if (cur.upstream) {
    diffDigests(prev.upstream, cur.upstream, (k) => {
      const dot = k.lastIndexOf('.');
      return dot < 0 ? `outputs of ${k}` : `output ${k.slice(dot + 1)} of ${k.slice(0, dot)}`;
    }, out);
  }
  return out;
}
