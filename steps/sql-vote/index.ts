// `uses: sql-vote`: execution-guided selection among predict's candidates
// (num_samples > 1): each candidate runs on its item's database in sql-eval's
// sandbox, candidates are grouped by result, and one per item is chosen by
// majority (self-consistency), the first that runs, or log-probability. Writes
// predictions in sql-eval's format, so an eval step scores the chosen SQL.
import { writeAtomic } from '../sql-eval/write-atomic.js';
import type { StepType } from '../../src/steps/types.js';
import { POOL_SCHEMA, poolOptions } from '../sql-eval/pool-options.js';
import type { Strategy } from './choose.js';
import { vote, type VoteSummary } from './vote.js';

const step: StepType = {
  name: 'sql-vote',
  description: "Executes predict's candidates on each item's database and picks one per item by execution result (majority, first-valid, logprob); never reads the gold",
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['candidates', 'dev', 'db_dir'],
    properties: {
      candidates: { type: 'string', description: "python:predict's candidates output (candidates.jsonl)" },
      dev: { type: 'string', description: 'The dev records predict read (spider-sft\'s dev output): the candidates must line up with them' },
      db_dir: { type: 'string', description: 'Folder holding <db_id>/<db_id>.sqlite' },
      strategy: {
        enum: ['majority', 'first-valid', 'logprob'],
        default: 'majority',
        description: 'majority: the largest group of candidates with equal results (ties: higher summed log-probability, then first seen); first-valid: the first candidate that runs; logprob: the most probable candidate that runs',
      },
      ...POOL_SCHEMA,
    },
  },
  outputs: { predictions: 'pred.sql', votes: 'votes.jsonl', report: 'report.md', metrics: 'metrics.json' },
  inputs: ['candidates', 'dev', 'db_dir'],
  async runtime() {
    const { Database } = await import('../sql-eval/sqlite-db.js');
    const db = new Database(':memory:');
    try {
      return { sqlite: (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v };
    } finally {
      db.close();
    }
  },
  // The sandbox, the result equality and the worker pool are sql-eval's.
  sources: ['steps/sql-vote', 'steps/sql-eval'],
  async run(ctx) {
    const w = ctx.with;
    const { items, summary } = await vote({
      ...poolOptions(w, ctx),
      candidates: w.candidates as string,
      dev: w.dev as string,
      dbDir: w.db_dir as string,
      strategy: (w.strategy as Strategy | undefined) ?? 'majority',
    });
    ctx.signal.throwIfAborted();
    // sql-eval's one-SQL-per-line format: a chosen text keeps to its line.
    writeAtomic(ctx.outputs.predictions!, items.map((it) => it.sql.replace(/\s*[\r\n]+\s*/g, ' ') + '\n').join(''));
    writeAtomic(ctx.outputs.votes!, items.map((it) => JSON.stringify(it)).join('\n') + (items.length ? '\n' : ''));
    writeAtomic(ctx.outputs.report!, renderReport(summary));
    writeAtomic(ctx.outputs.metrics!, JSON.stringify(summary, null, 2) + '\n');
    ctx.artifact('predictions', ctx.outputs.predictions!);
    ctx.metric('agreement', summary.mean_agreement);
    ctx.metric('error_rate_first', summary.error_rate_first);
    ctx.metric('error_rate_chosen', summary.error_rate_chosen);
    ctx.metric('changed_rate', summary.changed_rate);
    ctx.log(`sql-vote: ${summary.items} items, ${summary.candidates} candidates (${summary.executed} distinct runs), ${summary.strategy}: execution errors ${pct(summary.error_rate_first)} -> ${pct(summary.error_rate_chosen)}, ${summary.changed} answers changed`);
  },
};

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function renderReport(s: VoteSummary): string {
  return [
    '# Execution-guided vote',
    '',
    `Strategy: ${s.strategy}. ${s.items} items, ${s.candidates} candidates, ${s.executed} distinct queries run.`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| mean agreement (share of candidates in the chosen result's group) | ${pct(s.mean_agreement)} |`,
    `| items whose first candidate fails to run | ${pct(s.error_rate_first)} |`,
    `| items whose chosen candidate fails to run | ${pct(s.error_rate_chosen)} |`,
    `| items whose result the vote changed from the first candidate's | ${s.changed} (${pct(s.changed_rate)}) |`,
    '',
    'Per item: votes.jsonl (groups, errors, agreement, chosen candidate).',
    '',
  ].join('\n');
}

export default step;
