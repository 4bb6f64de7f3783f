// Worker process: scores the items the evaluator sends, one at a time, in the
// order received, and replies once per item (plus a notice of the candidates to
// run, with plug_value).
import { GoldUnparsable, ItemScorer } from './score-item.js';
import type { ItemReply, ItemRequest } from './worker-protocol.js';

const scorer = new ItemScorer();
const send = (m: ItemReply) => process.send!(m);

process.on('message', (req: ItemRequest) => {
  const id = req.id;
  try {
    const matched = scorer.match(req);
    if (matched.candidates > 1) send({ id, kind: 'matched', matched });
    send({ id, kind: 'scored', matched, executed: matched.candidates > 0 ? scorer.execute(req) : undefined });
  } catch (e) {
    if (e instanceof GoldUnparsable) send({ id, kind: 'gold-unparsable', message: e.message });
    else send({ id, kind: 'failed', message: `evaluation failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`.slice(0, 500) });
  }
});
process.on('disconnect', () => process.exit(0));
