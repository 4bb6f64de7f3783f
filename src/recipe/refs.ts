// `${...}` references inside recipe values. Three namespaces:
//   ${params.x}              a recipe param (after --set and matrix overrides)
//   ${steps.s.outputs.o}     the path of an upstream step's output (a dependency)
//   ${env.X}                 an environment variable (enters the key only where used); an unset
//                            one is an error at plan time
//   ${env.X:-default}        the same, with the text after :- where X is unset

export type Ref =
  | { kind: 'params'; name: string; text: string }
  | { kind: 'steps'; step: string; output: string; text: string }
  | { kind: 'env'; name: string; default?: string; text: string }
  | { kind: 'invalid'; text: string; why: string };

export const REF_PATTERN = /\$\{([^}]*)\}/g;

export function parseRef(inner: string, text: string): Ref {
  const body = inner.trim();
  const parts = body.split('.');
  if (parts[0] === 'params' && parts.length === 2 && parts[1]) return { kind: 'params', name: parts[1], text };
  const env = /^env\.([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s.exec(body);
  if (env) return { kind: 'env', name: env[1]!, ...(env[2] !== undefined ? { default: env[2] } : {}), text };
  // A step id may carry a matrix variant with dots in its values: steps.train[lr=1e-4,x=0.5].outputs.adapter
  const step = /^steps\.(.+)\.outputs\.([^.\s]+)$/.exec(body);
  if (step) return { kind: 'steps', step: step[1]!, output: step[2]!, text };
  return {
    kind: 'invalid',
    text,
    why: 'expected ${params.NAME}, ${steps.STEP.outputs.NAME}, ${env.NAME} or ${env.NAME:-default}',
  };
}

/** All references in a string. */
export function refsInString(s: string): Ref[] {
  const out: Ref[] = [];
  for (const m of s.matchAll(REF_PATTERN)) out.push(parseRef(m[1]!, m[0]));
  return out;
}

export interface RefAt {
  ref: Ref;
  /** The dotted path of the field the reference sits in. */
  path: string;
}

/** Every reference in any YAML value, with the dotted path of the field it sits in. */
export function walkRefs(value: unknown, path: string, out: RefAt[] = []): RefAt[] {
  if (typeof value === 'string') {
    // Most values hold no reference: skip the regex machinery for them.
    if (value.includes('${')) for (const ref of refsInString(value)) out.push({ ref, path });
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walkRefs(value[i], `${path}.${i}`, out);
  } else if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) walkRefs((value as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
  }
  return out;
}
