// Dev tool: replays a recorded event stream into the built TUI reporter in this
// terminal, with the recorded timing (sped up by SPEED), then serves r/q like
// the CLI would (a re-run replays the stream again). A stream without run-end
// stays running until cancelled with c or q.
// Usage: npm run build && node tests/helpers/replay-tui.mjs tests/fixtures/events/running.ndjson [SPEED]
import { readFileSync } from 'node:fs';
import { createTuiReporter } from '../../dist/src/reporters/tui/index.js';

const [file, speedArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node tests/helpers/replay-tui.mjs EVENTS.ndjson [SPEED]');
  process.exit(2);
}
const speed = Number(speedArg ?? 1);
const events = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
let cancelled = false;
const reporter = createTuiReporter({ control: { cancel: () => (cancelled = true) }, color: !process.env.NO_COLOR });

async function replay() {
  cancelled = false;
  const t0 = Date.now();
  const first = events[0].time;
  for (const e of events) {
    if (cancelled && e.type !== 'run-end') continue;
    const wait = (e.time - first) / speed - (Date.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    reporter.onEvent({ ...e, time: Date.now() });
  }
  // A stream recorded mid-run has no run-end: it stays "running" until the user cancels (c or q).
  if (events[events.length - 1].type !== 'run-end') {
    while (!cancelled) await new Promise((r) => setTimeout(r, 100));
    reporter.onEvent({ type: 'run-end', runId: events[0].runId, status: 'cancelled', durationMs: Date.now() - t0, savedMs: 0, counts: { done: 0, cached: 0, failed: 0, cancelled: 0, skipped: 0 }, time: Date.now() });
  }
}

await replay();
while ((await reporter.nextAction()).type === 'rerun') await replay();
await reporter.close();
