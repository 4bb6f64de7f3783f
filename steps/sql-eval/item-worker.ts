// Worker process: scores the items the evaluator sends, one at a time, in the
// order received. Replies are batched: sent at the end of each batch received
// (the parent then sends the next while this one scores the batch it holds), or
// before the next item once the oldest reply has waited FLUSH_MS; at once for a
// solo item and for the plug_value notice that sets the candidates' time budget
// (the parent's clock must then know which item is running).
import { GoldUnparsable, ItemScorer } from './score-item.js';
import type { ItemReply, ItemRequest } from './worker-protocol.js';

const FLUSH_MS = 20;
const scorer = new ItemScorer();
let pending: ItemReply[] = [];
let oldest = 0;

function flush(): void {
  if (pending.length === 0) return;
  process.send!(pending);
  pending = [];
}

function reply(m: ItemReply): void {
  if (pending.length === 0) oldest = performance.now();
  pending.push(m);
}

function score(req: ItemRequest): void {
  const id = req.id;
  if (req.solo || (pending.length > 0 && performance.now() - oldest > FLUSH_MS)) flush();
  try {
    const matched = scorer.match(req);
    if (matched.candidates > 1) {
      reply({ id, kind: 'matched', matched });
      flush();
    }
    reply({ id, kind: 'scored', matched, executed: matched.candidates > 0 ? scorer.execute(req) : undefined });
  } catch (e) {
    if (e instanceof GoldUnparsable) reply({ id, kind: 'gold-unparsable', message: e.message });
    else reply({ id, kind: 'failed', message: `evaluation failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`.slice(0, 500) });
  }
  if (req.solo) flush();
}

process.on('message', (batch: ItemRequest[]) => {
  for (const req of batch) score(req);
  flush();
});
process.on('disconnect', () => process.exit(0));
