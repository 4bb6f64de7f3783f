// `flow dag`'s default view: the step graph as a tree a terminal shows without
// a renderer. Data flows downward, as in a run: a step hangs under the last of
// the steps it needs (in the graph's order, so the one it waits for longest),
// and the others it needs are named beside it. Every step appears once, so a
// diamond (eval needing data and predict) is one line, not a repeated subtree.

import type { Graph } from './dag.js';

/** typeOf: what a step runs (its `uses:` type, or 'run' for a shell step), printed beside it. */
export function renderTree(graph: Graph, typeOf: (id: string) => string): string[] {
  const pos = new Map(graph.order.map((id, i) => [id, i]));
  const parentOf = new Map<string, string>();
  for (const id of graph.order) {
    const deps = [...graph.deps.get(id)!];
    if (deps.length) parentOf.set(id, deps.reduce((a, b) => (pos.get(a)! > pos.get(b)! ? a : b)));
  }
  const children = new Map<string, string[]>(graph.order.map((id) => [id, []]));
  for (const id of graph.order) {
    const p = parentOf.get(id);
    if (p) children.get(p)!.push(id);
  }
  const width = Math.max(...graph.order.map((id) => id.length + 3 * depth(id, parentOf)));
  const lines: string[] = [];
  const line = (id: string, prefix: string, branch: string) => {
    const also = [...graph.deps.get(id)!].filter((d) => d !== parentOf.get(id)).sort((a, b) => pos.get(a)! - pos.get(b)!);
    const label = `${prefix}${branch}${id}`;
    lines.push(`${label.padEnd(width + 2)}${typeOf(id)}${also.length ? `  (also needs ${also.join(', ')})` : ''}`.trimEnd());
  };
  const walk = (id: string, prefix: string, last: boolean, root: boolean) => {
    line(id, prefix, root ? '' : last ? '└─ ' : '├─ ');
    const kids = children.get(id)!;
    const next = root ? '' : prefix + (last ? '   ' : '│  ');
    kids.forEach((k, i) => walk(k, next, i === kids.length - 1, false));
  };
  for (const id of graph.order) if (!parentOf.has(id)) walk(id, '', true, true);
  return lines;
}

function depth(id: string, parentOf: Map<string, string>): number {
  let d = 0;
  for (let p = parentOf.get(id); p; p = parentOf.get(p)) d++;
  return d;
}
