// A manifest names `with:` options by dotted path ('lora.r', 'launcher.type'); this reads one.

/** The value at a dotted path of `with:`, or undefined where a part is missing. */
export function withValue(w: Record<string, unknown>, dotted: string): unknown {
  let v: unknown = w;
  for (const k of dotted.split('.')) {
    if (!v || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
