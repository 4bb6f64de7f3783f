// The TS side of schema/step-events.schema.json: the params file the engine
// writes for a real Python step, and the event lines the Python runtime and a
// real step write, validate against it with ajv (the Python side is
// python-steps/tests/test_step_events_schema.py).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCtx, ROOT, stepType, testPython, tmp } from './helpers/python.js';

const schema = JSON.parse(readFileSync(join(ROOT, 'schema', 'step-events.schema.json'), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(schema, 'events');
const validParams = ajv.getSchema('events#/definitions/params')!;
const validEvent = ajv.getSchema('events#/definitions/event')!;

function lines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const EMIT_ALL = `
from flow_runtime.channel import Events
e = Events()
e.progress(3, 10, "step", loss=1.5, lr=2e-4, tokens_per_s=99.5)
e.progress(1, None, "item")
e.metric("train_loss", 1.25)
e.artifact("adapter", "/tmp/adapter")
e.emit("loss", step=3, loss=1.5, lr=2e-4)
e.emit("loss", step=4, eval_loss=1.7)
e.emit("resumed", step=2)
`;

describe('step events schema', () => {
  let python: string;
  beforeAll(async () => {
    python = await testPython();
  }, 600_000);

  it('accepts every event type the Python runtime writes', async () => {
    const file = join(tmp('events'), 'events.jsonl');
    await execa(python, ['-c', EMIT_ALL], { cwd: join(ROOT, 'python-steps'), env: { FLOW_EVENTS_FILE: file } });
    const events = lines(file);
    expect(events.map((e) => e.type)).toEqual(['progress', 'progress', 'metric', 'artifact', 'loss', 'loss', 'resumed']);
    for (const e of events) expect(validEvent(e), JSON.stringify(validEvent.errors)).toBe(true);
  });

  it('accepts the params file the engine writes and the error event of a real step', async () => {
    const work = tmp('dev');
    const r = makeCtx(stepType('python:predict'), { model: join(work, 'm'), dev_file: join(work, 'missing.json') }, { python });
    await expect(stepType('python:predict').run(r.ctx)).rejects.toThrow(/with\.dev_file/);
    const paramsFile = join(r.ctx.workDir, 'flow-params.json');
    const params = JSON.parse(readFileSync(paramsFile, 'utf8'));
    expect(validParams(params), JSON.stringify(validParams.errors)).toBe(true);

    // The same step again on that params file, with its events in a file we can read line by line.
    const file = join(work, 'events.jsonl');
    const run = await execa(python, [join(ROOT, 'python-steps', 'predict.py'), '--params', paramsFile], {
      env: { FLOW_EVENTS_FILE: file }, reject: false,
    });
    expect(run.exitCode).toBe(2);
    const events = lines(file);
    // Log lines (the step's thread count) may come first; the one error is last.
    expect(events.filter((e) => e.type !== 'log').map((e) => e.type)).toEqual(['error']);
    expect(events.at(-1)!.kind).toBe('user');
    for (const e of events) expect(validEvent(e), JSON.stringify(validEvent.errors)).toBe(true);
  });

  it('rejects an event the engine could not read', () => {
    expect(validEvent({ type: 'metric', time: 1, name: 'x' })).toBe(false);
    expect(validEvent({ type: 'progress', time: 1, current: 1, total: 2, unit: 'step', values: { loss: 'high' } })).toBe(false);
    expect(validEvent({ type: 'telemetry', time: 1 })).toBe(false);
    expect(validEvent({ type: 'loss', time: 1, step: 1 })).toBe(false);
    expect(validParams({ step: 's', with: {}, outputs: {} })).toBe(false);
  });
});
