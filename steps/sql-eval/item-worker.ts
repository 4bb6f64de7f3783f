// Worker process: scores the items the evaluator sends, one at a time, in the
// order received. Replies are batched: sent at the end of each batch received
// (the parent then sends the next while this one scores the batch it holds), or
// before the next item once the oldest reply has waited FLUSH_MS; at once for a
// solo item and for the plug_value notice that sets the candidates' time budget
// (the parent's clock must then know which item is running).
import { groupByResult } from './group-exec.js';
import { GoldUnparsable, ItemScorer } from './score-item.js';
import { isGroupTask, type GroupTask, type ItemReply, type ItemRequest, type ItemTask } from './worker-protocol.js';

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

/**
 * sql-vote's grouping. Solo (after a worker was lost on it), each query is announced
 * before it runs, so that the parent can blame the one that hangs and go on without it.
 */
function group(req: GroupTask & { id: number; solo?: boolean }): void {
  const id = req.id;
  const onRunning = req.solo
    ? (sql: number) => {
        reply({ id, kind: 'running', sql });
        flush();
      }
    : undefined;
  try {
    reply({ id, kind: 'grouped', grouped: groupByResult(req.files, req.sqls, req.skip, req, onRunning) });
  } catch (e) {
    reply({ id, kind: 'failed', message: `execution failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`.slice(0, 500) });
  }
}

function score(request: ItemRequest): void {
  if (request.solo || (pending.length > 0 && performance.now() - oldest > FLUSH_MS)) flush();
  if (isGroupTask(request)) {
    group(request);
    if (request.solo) flush();
    return;
  }
  const req = request as ItemTask & { id: number; solo?: boolean };
  const id = req.id;
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
