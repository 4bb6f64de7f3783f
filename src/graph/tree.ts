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
  const depthOf = new Map<string, number>();
  for (const id of graph.order) depthOf.set(id, parentOf.has(id) ? depthOf.get(parentOf.get(id)!)! + 1 : 0); // parents come first
  const width = graph.order.reduce((w, id) => Math.max(w, id.length + 3 * depthOf.get(id)!), 0);
  const lines: string[] = [];
  const line = (id: string, prefix: string, branch: string) => {
    const also = [...graph.deps.get(id)!].filter((d) => d !== parentOf.get(id)).sort((a, b) => pos.get(a)! - pos.get(b)!);
    const label = `${prefix}${branch}${id}`;
    lines.push(`${label.padEnd(width + 2)}${typeOf(id)}${also.length ? `  (also needs ${also.join(', ')})` : ''}`.trimEnd());
  };
  // Depth first with an explicit stack (a chain of thousands of steps is that deep).
  for (const top of graph.order) {
    if (parentOf.has(top)) continue;
    const todo: Array<{ id: string; prefix: string; last: boolean; root: boolean }> = [{ id: top, prefix: '', last: true, root: true }];
    while (todo.length) {
      const { id, prefix, last, root } = todo.pop()!;
      line(id, prefix, root ? '' : last ? '└─ ' : '├─ ');
      const kids = children.get(id)!;
      const next = root ? '' : prefix + (last ? '   ' : '│  ');
      for (let i = kids.length - 1; i >= 0; i--) todo.push({ id: kids[i]!, prefix: next, last: i === kids.length - 1, root: false });
    }
  }
  return lines;
}
