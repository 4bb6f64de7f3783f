// The real trackers for tests: a Python with python-steps/requirements-trackers.txt (MLflow) over
// the test env's packages, and a real `mlflow server` on 127.0.0.1 with a SQLite backend in a
// temporary folder, stopped by its process group id.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { ROOT } from './tiny-seeds.js';

/**
 * A venv that sees the test env's packages (torch, transformers, tensorboard: a .pth file naming
 * its site-packages; `--system-site-packages` would give the base interpreter's, not the env's)
 * plus the trackers extra, built once per base env and extra's content, under the cache folder the
 * test env lives in (the tests' temporary folders are per run).
 */
export async function trackersPython(base: string): Promise<string> {
  const req = join(ROOT, 'python-steps', 'requirements-trackers.txt');
  const digest = createHash('sha256').update(`pth ${base}\n`).update(readFileSync(req)).digest('hex').slice(0, 12);
  const dir = join(resolve(process.env.FLOW_CACHE ?? join(ROOT, 'cache')), `test-trackers-venv-${digest}`);
  const python = join(dir, 'bin', 'python');
  if (existsSync(join(dir, '.complete'))) return python;
  // Built where it will live (a venv's scripts name their folder); the marker says it is whole.
  rmSync(dir, { recursive: true, force: true });
  await execa(base, ['-m', 'venv', '--without-pip', dir]);
  const site = async (py: string) => (await execa(py, ['-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"])).stdout.trim();
  writeFileSync(join(await site(python), 'flow-test-env.pth'), `${await site(base)}\n`);
  // The env's pip, installing into this venv: what the env has already satisfies MLflow's needs.
  await execa(python, ['-m', 'pip', 'install', '-q', '-r', req]);
  writeFileSync(join(dir, '.complete'), '');
  return python;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface MlflowServer {
  uri: string;
  stop(): Promise<void>;
}

/** `mlflow server` on 127.0.0.1:port, SQLite backend and artifacts in `dir`; resolves once it answers /health. */
export async function startMlflow(python: string, dir: string, port: number): Promise<MlflowServer> {
  const mlflow = join(python, '..', 'mlflow');
  const proc: ResultPromise = execa(mlflow, ['server', '--host', '127.0.0.1', '--port', String(port), '--workers', '1',
    '--backend-store-uri', `sqlite:///${join(dir, 'mlflow.db')}`, '--artifacts-destination', join(dir, 'artifacts')], {
    detached: true, reject: false, stdio: 'ignore', cleanup: true,
  });
  const uri = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      process.kill(-proc.pid!, 'SIGTERM'); // the server and its workers: one process group
    } catch {
      // already gone
    }
    await proc;
  };
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${uri}/health`)).ok) return { uri, stop };
    } catch {
      // not up yet
    }
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await stop();
  throw new Error(`mlflow server on ${uri} did not start`);
}
