// gc over every folder the cache store owns: what the kept runs use stays,
// the rest goes, and the report says what was freed per kind.

import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { collectGarbage, GcRefused } from '../../src/cache/gc.js';
import { SELF_START } from '../../src/proc/identity.js';
import { openWorkspace } from '../../src/scheduler/workspace.js';

const fp = { v: 1, type: 'run', impl: {}, fields: {}, params: {}, env: {}, inputs: {}, upstream: {} };

function file(path: string, content = 'x') {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
}

it('frees entries, checkpoints, logs, locks, work, tmp, envs and file states no kept run needs', async () => {
  const ws = openWorkspace(mkdtempSync(join(tmpdir(), 'flow-gc-')));
  const { records } = ws;
  const store = ws.store.layout;
  // An old run used key "old"; the kept (newest) run used key "live".
  for (const [run, key, t] of [['r-old', 'old', 1000], ['r-new', 'live', 2000]] as const) {
    records.createRun({ id: run, recipe: '/r.yml', name: 'r', params: {}, argv: [] });
    ws.db.prepare('UPDATE runs SET started_at = ? WHERE id = ?').run(t, run);
    records.startExecution({ id: `e-${key}`, runId: run, stepId: 's', stepType: 'run', key, logPath: store.logPath(`e-${key}`), fingerprint: fp, gpus: [], reasons: [] });
    records.finishExecution(`e-${key}`, { status: 'done', durationMs: 1 });
    records.finishRun(run, 'done');
    file(join(store.entryDir(key), 'out.txt'));
    file(store.logPath(`e-${key}`), 'log line\n');
    file(join(store.checkpointDir(key), 'checkpoint-1', 'state.json'), '{}');
  }
  file(join(store.work, 'exec-1', 'scratch'), 'abc');
  file(join(store.tmp, 'entry-x', 'y'));
  // Execution locks are rows: one of a process that is gone, one of this (live) process.
  const lock = ws.db.prepare('INSERT INTO locks (key, pid, pid_start, acquired_at) VALUES (?, ?, ?, 0)');
  lock.run('dead', 999999999, '1');
  lock.run('mine', process.pid, SELF_START);
  file(join(store.envs, 'oldenv', 'flow-env.json'), '{}');
  utimesSync(join(store.envs, 'oldenv', 'flow-env.json'), new Date(1500), new Date(1500));
  file(join(store.envs, 'newenv', 'flow-env.json'), '{}');
  file(join(store.envs, 'half.tmp-123-ab', 'bin'), '');
  ws.db.prepare('INSERT INTO file_state (path, size, mtime_ns, inode, digest, checked_at) VALUES (?, 1, ?, ?, ?, 0)').run('/nonexistent/flow-gc', '1', '1', 'd');

  const r = await collectGarbage(ws, 1);
  expect(r.keptRuns).toBe(1);
  expect(r.entries).toBe(1);
  expect(existsSync(store.entryDir('live'))).toBe(true);
  expect(existsSync(store.entryDir('old'))).toBe(false);
  expect(existsSync(store.checkpointDir('live'))).toBe(true);
  expect(existsSync(store.checkpointDir('old'))).toBe(false);
  expect(existsSync(store.logPath('e-live'))).toBe(true);
  expect(existsSync(store.logPath('e-old'))).toBe(false);
  const locks = ws.db.prepare('SELECT key FROM locks ORDER BY key').all() as Array<{ key: string }>;
  expect(locks.map((l) => l.key)).toEqual(['mine']);
  expect(existsSync(join(store.envs, 'newenv'))).toBe(true);
  expect(existsSync(join(store.envs, 'oldenv'))).toBe(false);
  expect(r.freed).toMatchObject({
    checkpoints: { items: 1, bytes: 2 },
    logs: { items: 1, bytes: 9 },
    locks: { items: 1 },
    work: { items: 1, bytes: 3 },
    tmp: { items: 1, bytes: 1 },
    envs: { items: 2 },
    'file states': { items: 1 },
  });
  ws.close();
});

it('refuses while a run is in progress', async () => {
  const ws = openWorkspace(mkdtempSync(join(tmpdir(), 'flow-gc-')));
  ws.records.createRun({ id: 'r', recipe: '/r.yml', name: 'r', params: {}, argv: [] });
  await expect(collectGarbage(ws, 1)).rejects.toBeInstanceOf(GcRefused);
  ws.close();
});

/** A workspace whose newest run used key "live" and an older one key "old"; gc keeps 1 run. */
function twoRuns() {
  const ws = openWorkspace(mkdtempSync(join(tmpdir(), 'flow-gc-')));
  for (const [run, key, t] of [['r-old', 'old', 1000], ['r-new', 'live', 2000]] as const) {
    ws.records.createRun({ id: run, recipe: '/r.yml', name: 'r', params: {}, argv: [] });
    ws.db.prepare('UPDATE runs SET started_at = ? WHERE id = ?').run(t, run);
    ws.records.startExecution({ id: `e-${key}`, runId: run, stepId: 's', stepType: 'run', key, logPath: ws.store.layout.logPath(`e-${key}`), fingerprint: fp, gpus: [], reasons: [] });
    ws.records.finishExecution(`e-${key}`, { status: 'done', durationMs: 1 });
    ws.records.finishRun(run, 'done');
    file(join(ws.store.layout.entryDir(key), 'out.txt'));
  }
  return ws;
}

const entryOf = (key: string) => ({ key, stepId: 's', outputs: { out: { path: 'out.txt', digest: 'd', size: 1, kind: 'file' as const } }, digest: 'd', size: 1, durationMs: 1, execId: `e-${key}`, files: [] });

it('removes latest/ links to removed entries (and emptied recipe folders), keeping those to kept entries', async () => {
  const ws = twoRuns();
  const { layout } = ws.store;
  await ws.store.linkLatest('r', 'a', entryOf('live'));
  await ws.store.linkLatest('r', 'b', entryOf('old'));
  await ws.store.linkLatest('other', 'c', entryOf('old'));
  const r = await collectGarbage(ws, 1);
  expect(existsSync(join(layout.latest, 'r', 'a'))).toBe(true);
  expect(readlinkSync(join(layout.latest, 'r', 'a'))).toBe(join('..', '..', 'steps', 'live'));
  expect(lstatSync(join(layout.latest, 'r', 'b'), { throwIfNoEntry: false })).toBeUndefined();
  expect(existsSync(join(layout.latest, 'other'))).toBe(false);
  expect(r.freed.latest.items).toBe(2);
  ws.close();
});

it('removes slurm/ job records whose work dir is gone (or that cannot be read), keeping one whose work dir remains', async () => {
  const ws = twoRuns();
  const { layout } = ws.store;
  const kept = mkdtempSync(join(tmpdir(), 'flow-gc-job-'));
  file(layout.slurmRecord('k-running'), JSON.stringify({ jobId: '1', jobName: 'flow-r-s-kk', workDir: kept }));
  file(join(layout.work, 'exec-9', 'x'));
  file(layout.slurmRecord('k-finished'), JSON.stringify({ jobId: '2', jobName: 'flow-r-s-kf', workDir: join(layout.work, 'exec-9') }));
  file(layout.slurmRecord('k-torn'), '{"jobId": "3", "wor');
  const r = await collectGarbage(ws, 1);
  expect(readdirSync(layout.slurm)).toEqual(['k-running.json']);
  expect(r.freed.slurm.items).toBe(2);
  ws.close();
});
