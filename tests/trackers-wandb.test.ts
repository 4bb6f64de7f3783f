// W&B as a recipe's tracker (report_to: { wandb: { mode: offline } }), through the real CLI on a
// tiny model: nothing is sent anywhere (offline mode writes the run under its dir only), and the
// offline run's .wandb file (what `wandb sync` would send) is read back, each record parsed with
// wandb's own protobuf classes: flow's params are in the run's config and the EX
// per checkpoint curve (a real predict + sql-eval of each checkpoint) is in its history, beside
// the Trainer's own loss from its W&B callback. As tests/checkpoints.test.ts does for TensorBoard
// and MLflow.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkpointRecipe, doneStep, failures, flow, SPIDER_MINI } from './helpers/tiny-seeds.js';
import { trackersPython } from './helpers/trackers.js';
import { testPython } from './helpers/python.js';

const RECIPE = checkpointRecipe({
  name: 'track-wandb',
  steps: 4,
  head: `report_to:
  wandb:
    project: flow-test
    mode: offline
    dir: wandb-out
`,
  train: '      load_check: false\n',
});

/** Every record of the offline runs under `dir` with this W&B run id: the run records, the config
 * keys and values and the history rows (key -> value). Each record is parsed with wandb's own
 * protobuf class (wandb.proto.wandb_internal_pb2.Record); wandb 0.31 has no Python reader of the
 * .wandb file left (its Go core reads it; the old wandb.sdk.internal.datastore is gone), so the
 * framing around the records is read here: the 7-byte ":W&B" header, then LevelDB-log records
 * (crc32c, little-endian length, type: full, or first/middle/last chunks) in 32 KiB blocks. */
const READ = `
import glob, json, struct, sys
from wandb.proto import wandb_internal_pb2

BLOCK, HEAD = 32768, 7
def records(path):
    data = open(path, "rb").read()
    assert data[:4] == b":W&B", path
    pos, parts = 7, b""
    while pos + HEAD <= len(data):
        if BLOCK - pos % BLOCK < HEAD:
            pos += BLOCK - pos % BLOCK
            continue
        _crc, n, kind = struct.unpack("<IHB", data[pos:pos + HEAD])
        body = data[pos + HEAD:pos + HEAD + n]
        pos += HEAD + n
        if kind == 0 and n == 0:
            continue
        parts += body
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(parts)
            parts = b""
            yield rec

root, run_id = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(f"{root}/wandb/offline-run-*-{run_id}/run-{run_id}.wandb"))
config, history, runs = {}, [], []
for path in files:
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            runs.append({"id": rec.run.run_id, "project": rec.run.project, "group": rec.run.run_group, "name": rec.run.display_name})
            for item in rec.run.config.update:
                config[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                config[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
print(json.dumps({"files": len(files), "runs": runs, "config": config, "history": history}))
`;

const dir = mkdtempSync(join(tmpdir(), 'flow-wandb-'));
const o = { cwd: dir, cache: join(dir, 'cache'), python: '' };
beforeAll(async () => {
  o.python = await trackersPython(await testPython());
}, 900_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('logs the Trainer loss, flow params and the EX per checkpoint curve to an offline W&B run, read back with wandb', async () => {
  const file = join(dir, 'run.yml');
  writeFileSync(file, RECIPE);
  // No key and no network settings: offline mode needs neither. One step at a time: the two
  // checkpoints' evaluations write byte-identical files here, and two concurrent commits of the same
  // bytes trip the store's late-writer check (a store issue, reported; not this test's subject).
  const r = await flow(['run', file, '--ui', 'json', '--jobs', '1'], o);
  expect(r.code, failures(r.events) || r.stderr.slice(-2000)).toBe(0);
  expect(r.events.filter((e) => e.type === 'warning')).toEqual([]);
  const runId = (r.events.find((e) => e.type === 'run-start') as { runId: string }).runId;
  const ex = (n: number) => (JSON.parse(readFileSync(doneStep(r.events, `eval_val[ckpt=${n}]`)!.outputs.metrics!, 'utf8')) as { ex: { all: number } }).ex.all;

  // flow_trackers.py's run id: the first 16 hex digits of sha256(run name).
  const wandbId = (await execa(o.python, ['-c', `import hashlib; print(hashlib.sha256(${JSON.stringify(runId)}.encode()).hexdigest()[:16])`])).stdout.trim();
  const out = await execa(o.python, ['-c', READ, join(dir, 'wandb-out'), wandbId], { cwd: dir, env: { PYTHONWARNINGS: 'ignore' } });
  const run = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as {
    files: number; runs: Array<{ id: string; project: string; group: string; name: string }>;
    config: Record<string, unknown>; history: Array<Record<string, number>>;
  };
  // The Trainer's callback and flow's own logging: both in the one W&B run of this flow run.
  expect(run.files).toBeGreaterThanOrEqual(1);
  expect(run.runs.length).toBeGreaterThanOrEqual(1);
  for (const x of run.runs) expect(x).toEqual({ id: wandbId, project: 'flow-test', group: runId, name: runId });
  // flow's params.
  expect(run.config.steps).toBe(4);
  expect(run.config.spider).toBe(SPIDER_MINI);
  // The EX curve: one point per checkpoint, at its training step, equal to what sql-eval recorded.
  const curve = run.history.filter((h) => 'eval_val/ex/all' in h).map((h) => [h['flow/step'], h['eval_val/ex/all']]);
  expect(curve).toEqual([[2, ex(2)], [4, ex(4)]]);
  expect(run.history.filter((h) => 'eval_val/ex/easy' in h)).toHaveLength(2);
  // The Trainer's W&B callback: the loss of every logged step.
  expect(run.history.filter((h) => 'train/loss' in h).length).toBeGreaterThanOrEqual(4);
}, 900_000);
