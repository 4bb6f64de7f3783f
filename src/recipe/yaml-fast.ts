// A recipe's YAML read quickly, for the common case where it is well formed.
//
// The `yaml` library stays the reference: it gives every error its line and
// column, guards against alias bombs, and finds source positions. But it builds
// a full syntax tree with positions for every node, and that was two thirds of
// planning a 2,000-step recipe (bench/engine-scale.ts). js-yaml builds plain
// values directly, 10-30x faster here: a warm `flow plan` of a 2,000-step recipe took
// 352 ms of CPU with this reader against 756 ms with `yaml` alone, 1.6 s against 3.7 s
// of wall time (medians of 11 interleaved runs, Node 20, 2 loaded cores; for the
// 6-step quickstart the two are within 7 ms). So a recipe is read with js-yaml first,
// under a schema that resolves plain scalars exactly as `yaml`'s YAML 1.2 core
// schema does; whenever js-yaml refuses the text (bad syntax, a duplicate key,
// an unknown tag) or the value holds a shared collection (an alias, whose
// expansions `yaml` counts), the caller reads it with `yaml` instead, which
// decides. Positions are found with `yaml` only when an error needs one.

import jsyaml from 'js-yaml';

/** The YAML 1.2 core schema as the yaml library resolves it (yaml/dist/schema/core): same patterns, same conversions. */
const CORE_INT = { oct: /^0o[0-7]+$/, dec: /^[-+]?[0-9]+$/, hex: /^0x[0-9a-fA-F]+$/ };
const CORE_FLOAT = {
  nanInf: /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
  exp: /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/,
  plain: /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/,
};

const coreNull = new jsyaml.Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (s: string | null) => s === null || /^(?:~|[Nn]ull|NULL)?$/.test(s),
  construct: () => null,
});
const coreBool = new jsyaml.Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
  construct: (s: string) => s[0] === 't' || s[0] === 'T',
});
const coreInt = new jsyaml.Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && (CORE_INT.oct.test(s) || CORE_INT.dec.test(s) || CORE_INT.hex.test(s)),
  construct: (s: string) => (CORE_INT.oct.test(s) ? parseInt(s.substring(2), 8) : CORE_INT.hex.test(s) ? parseInt(s.substring(2), 16) : parseInt(s, 10)),
});
const coreFloat = new jsyaml.Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && (CORE_FLOAT.nanInf.test(s) || CORE_FLOAT.exp.test(s) || CORE_FLOAT.plain.test(s)),
  construct: (s: string) =>
    CORE_FLOAT.nanInf.test(s) ? (s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity) : parseFloat(s),
});

/** Strings, sequences and mappings (failsafe) plus the core scalars, in `yaml`'s order of resolution. */
const CORE_SCHEMA = jsyaml.FAILSAFE_SCHEMA.extend({ implicit: [coreNull, coreBool, coreInt, coreFloat] });

/**
 * Where the two readers name a key differently, `yaml` reads: a null key (`~:`, `null:`, an
 * empty key: yaml's '' where js-yaml says 'null'), an explicit `? ` key, a collection as a key
 * (`[a, b]:`). Matched on the raw text, so a quoted look-alike also goes to `yaml`, only slower.
 */
const ODD_KEY = /(?:^|[\s{,[])(?:~|null|Null|NULL)?\s*:(?:\s|$)|^[\s-]*\?(?:\s|$)|[\]}]\s*:(?:\s|$)/m;

/**
 * The recipe's value, or undefined when `yaml` must read it: js-yaml refused it, or it
 * holds a collection reached twice (an alias: `yaml` bounds their expansion).
 */
export function readYamlFast(text: string): { value: unknown } | undefined {
  if (ODD_KEY.test(text)) return undefined;
  let value: unknown;
  try {
    value = jsyaml.load(text, { schema: CORE_SCHEMA });
  } catch {
    return undefined;
  }
  return sharesCollections(value, new Set()) ? undefined : { value };
}

function sharesCollections(v: unknown, seen: Set<object>): boolean {
  if (!v || typeof v !== 'object') return false;
  if (seen.has(v)) return true;
  seen.add(v);
  if (Array.isArray(v)) return v.some((x) => sharesCollections(x, seen));
  for (const k of Object.keys(v)) if (sharesCollections((v as Record<string, unknown>)[k], seen)) return true;
  return false;
}
