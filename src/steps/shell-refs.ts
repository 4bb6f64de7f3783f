// How `${...}` references reach a shell step: as environment variables, never as shell text.
// Each reference in `run:` is replaced by an expansion of a variable holding its value
// (FLOW_PARAM_<name>, FLOW_INPUT_<step>_<output>, FLOW_ENV_<name>), quoted for where it sits:
//   unquoted          "${FLOW_PARAM_V}"      one word, no globbing
//   "in double"       ${FLOW_PARAM_V}
//   'in single'       '"${FLOW_PARAM_V}"'    the quote is closed around it
//   $'ANSI-C'         '"${FLOW_PARAM_V}"$'
// The shell never parses an expansion's result as code, so a value holding `$(...)`, quotes or
// `;` (a --set value, a cache dir with a quote in its name) is the text it is, wherever the
// reference sits. The key is unaffected: it holds `run:` as written and the values.
// Not followed: a quoted here-document's body (`<<'EOF'`), where no expansion happens.

import { REF_PATTERN, parseRef, type Ref } from '../recipe/refs.js';

type Frame = { kind: 'code' | 'double' | 'single' | 'ansi' | 'backtick'; depth: number };

/** The environment variable a reference's value is passed in. */
function varName(ref: Ref): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');
  if (ref.kind === 'params') return `FLOW_PARAM_${clean(ref.name)}`;
  if (ref.kind === 'steps') return `FLOW_INPUT_${clean(ref.step)}_${clean(ref.output)}`;
  if (ref.kind === 'env') return `FLOW_ENV_${clean(ref.name)}`;
  return 'FLOW_REF';
}

/**
 * `run:` text with its references bound to variables, and those variables' values (`value`
 * resolves one reference to its text).
 */
export function bindShellRefs(run: string, value: (ref: Ref) => string): { command: string; vars: Record<string, string> } {
  const vars: Record<string, string> = {};
  const byText = new Map<string, string>();
  const bind = (text: string, inner: string): string => {
    let name = byText.get(text);
    if (name) return name;
    const ref = parseRef(inner, text);
    const v = value(ref);
    name = varName(ref);
    // Two references that clean to the same name (a-b, a_b) get one each.
    for (let n = 2; name in vars && vars[name] !== v; n++) name = `${varName(ref)}_${n}`;
    vars[name] = v;
    byText.set(text, name);
    return name;
  };
  const frames: Frame[] = [{ kind: 'code', depth: 0 }];
  const ref = new RegExp(REF_PATTERN.source, 'y');
  let out = '';
  let i = 0;
  while (i < run.length) {
    ref.lastIndex = i;
    const m = ref.exec(run);
    const top = frames[frames.length - 1]!;
    if (m) {
      const v = `\${${bind(m[0], m[1]!)}}`;
      out += top.kind === 'double' ? v : top.kind === 'single' ? `'"${v}"'` : top.kind === 'ansi' ? `'"${v}"$'` : `"${v}"`;
      i += m[0].length;
      continue;
    }
    const c = run[i]!;
    const two = run.slice(i, i + 2);
    let step = 1;
    if (top.kind === 'single') {
      if (c === "'") frames.pop();
    } else if (top.kind === 'ansi') {
      if (c === '\\') step = 2;
      else if (c === "'") frames.pop();
    } else if (top.kind === 'double') {
      if (c === '\\') step = 2;
      else if (c === '"') frames.pop();
      else if (two === '$(') (frames.push({ kind: 'code', depth: 0 }), (step = 2));
      else if (c === '`') frames.push({ kind: 'backtick', depth: 0 });
    } else if (c === '\\') step = 2;
    else if (c === "'") frames.push({ kind: 'single', depth: 0 });
    else if (two === "$'") (frames.push({ kind: 'ansi', depth: 0 }), (step = 2));
    else if (c === '"') frames.push({ kind: 'double', depth: 0 });
    else if (two === '$(') (frames.push({ kind: 'code', depth: 0 }), (step = 2));
    else if (c === '(') top.depth++;
    else if (c === ')') {
      if (top.depth > 0) top.depth--;
      else if (frames.length > 1) frames.pop();
    } else if (c === '`') {
      if (top.kind === 'backtick') frames.pop();
      else frames.push({ kind: 'backtick', depth: 0 });
    } else if (c === '#' && (i === 0 || /[\s;&|()]/.test(run[i - 1]!))) {
      // A comment, to the end of the line: its quotes (don't) open nothing.
      const nl = run.indexOf('\n', i);
      const end = nl < 0 ? run.length : nl;
      out += run.slice(i, end).replace(new RegExp(REF_PATTERN.source, 'g'), (t, inner: string) => `\${${bind(t, inner)}}`);
      i = end;
      continue;
    }
    out += run.slice(i, i + step);
    i += step;
  }
  return { command: out, vars };
}
