// A real Slurm cluster on this one machine for tests: munged, slurmctld and slurmd
// from the Debian packages (slurm-wlm, munge), configured in a scratch folder
// with a generated slurm.conf and stopped by pid afterwards. Clients (sbatch,
// squeue, ...) find it through SLURM_CONF, which start() puts in process.env
// so that flow and everything it spawns talks to this cluster.
//
//   const c = await startSlurmCluster();      // { skip: 'why' } where it cannot run
//   const c2 = await startSlurmCluster({ nodes: 2 });   // two slurmd on this one machine
//   ...
//   await c.stop();
//
// Without root or without the packages it returns a reason to skip; under
// CI=true it throws instead, because CI must run the cluster tests.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';

export interface SlurmCluster {
  dir: string;
  conf: string;
  partition: string;
  /** The node names. */
  nodes: string[];
  /** Fake GPUs (GRES gpu) each node offers. */
  gpus: number;
  /** Runs a Slurm client command against this cluster and returns its stdout. */
  cli(cmd: string, args: string[]): string;
  stop(): Promise<void>;
}

/** The partition whose jobs preempt those of the default one. */
export const URGENT = 'urgent';

const BINARIES = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'scontrol', 'sinfo'];

function which(bin: string): boolean {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) {
    if (d && existsSync(join(d, bin))) return true;
  }
  return false;
}

/** Why this machine cannot run a test cluster, or undefined when it can. */
export function whyNoCluster(): string | undefined {
  if (process.getuid?.() !== 0) return 'Slurm cluster tests need root (munged, slurmd); run them as root';
  const missing = BINARIES.filter((b) => !which(b));
  if (missing.length) return `Slurm cluster tests need the Debian packages slurm-wlm and munge (missing ${missing.join(', ')}): run .ci/system-deps.sh test`;
  return undefined;
}

function daemon(file: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const p = spawn(file, args, { env, stdio: 'ignore', detached: true });
  p.unref();
  return p;
}

function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

async function stopDaemon(p: ChildProcess): Promise<void> {
  if (!alive(p)) return;
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

/** Node line of slurm.conf with the machine's real CPU layout and memory, as slurmd itself detects it. */
function nodeLine(name: string, gpus: number, port?: number): string {
  const detected = execFileSync(which('slurmd') ? 'slurmd' : '/usr/sbin/slurmd', ['-C'], { encoding: 'utf8', env: { ...process.env, PATH: `/usr/sbin:${process.env.PATH}` } });
  const first = detected.split('\n')[0]!.trim();
  const fields = first
    .split(/\s+/)
    .filter((f) => /^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=/.test(f));
  // Several slurmd on one machine: each its own port (Debian's slurmd is built with multiple-slurmd support).
  return `NodeName=${name} NodeAddr=127.0.0.1 ${port ? `Port=${port} ` : ''}${fields.join(' ')} Gres=gpu:${gpus} State=UNKNOWN`;
}

/**
 * nodes: 2 runs a second slurmd on this machine as node "localhost", beside the one named after the host:
 * both names resolve here, which a multi-node job's rendezvous (at its first node's name) needs.
 */
export async function startSlurmCluster(opts: { nodes?: 1 | 2 } = {}): Promise<SlurmCluster | { skip: string }> {
  const why = whyNoCluster();
  if (why) {
    if (process.env.CI === 'true') throw new Error(`${why} (CI=true: the cluster tests must run)`);
    return { skip: why };
  }
  const dir = mkdtempSync(join(tmpdir(), 'flow-slurm-'));
  const conf = join(dir, 'slurm.conf');
  const host = hostname().split('.')[0]!;
  const nodes = opts.nodes === 2 ? [host === 'localhost' ? '127.0.0.1' : host, 'localhost'] : [host];
  const gpus = 4;
  const partition = 'debug';
  // A port pair of our own, so two clusters (two test files) on one machine do not meet.
  const port = 20000 + Math.floor(Math.random() * 20000);
  for (const d of ['state', ...nodes.map((n) => `spool-${n}`)]) mkdirSync(join(dir, d));
  const env = { ...process.env, SLURM_CONF: conf, PATH: `/usr/sbin:/sbin:${process.env.PATH ?? '/usr/bin:/bin'}` };

  writeFileSync(
    conf,
    [
      'ClusterName=flowtest',
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${join(dir, 'munge.sock')}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool-%n')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd-%n.pid')}`,
      `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'slurmd-%n.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      // Cores are the consumable resource; memory is checked against RealMemory but not reserved.
      'SelectTypeParameters=CR_Core',
      'GresTypes=gpu',
      'AccountingStorageType=accounting_storage/none',
      'JobAcctGatherType=jobacct_gather/none',
      'JobCompType=jobcomp/none',
      'MpiDefault=none',
      'ReturnToService=2',
      'SchedulerType=sched/backfill',
      // A higher partition's job preempts: requeued where the job allows it, else cancelled (PREEMPTED).
      'PreemptType=preempt/partition_prio',
      'PreemptMode=REQUEUE',
      // The main scheduling pass every second (default 60 s): a job queued behind another starts at once.
      'SchedulerParameters=sched_interval=1',
      // Finished jobs stay visible to scontrol/squeue for 5 minutes (there is no accounting).
      'MinJobAge=300',
      // Time limits bite exactly at the limit and the kill follows quickly (time-limit test).
      'OverTimeLimit=0',
      'KillWait=2',
      'InactiveLimit=0',
      'Waittime=0',
      'SlurmdTimeout=60',
      ...nodes.map((n, i) => nodeLine(n, gpus, nodes.length > 1 ? port + 2 + i : undefined)),
      // Four jobs may share a core: a 2-core test machine still runs a matrix of 4 at once.
      `PartitionName=${partition} Nodes=${nodes.join(',')} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4 PriorityTier=1`,
      // A job here takes its node from the jobs of the default partition (preemption tests).
      `PartitionName=${URGENT} Nodes=${nodes.join(',')} MaxTime=INFINITE State=UP OverSubscribe=NO PriorityTier=2`,
      '',
    ].join('\n'),
  );
  // slurmd drops GPUs without device files; empty files stand in for /dev/nvidia0..3.
  for (let i = 0; i < gpus; i++) writeFileSync(join(dir, `gpu${i}`), '');
  writeFileSync(join(dir, 'gres.conf'), nodes.map((n) => `NodeName=${n} Name=gpu File=${join(dir, `gpu[0-${gpus - 1}]`)}\n`).join(''));

  const key = join(dir, 'munge.key');
  execFileSync('mungekey', ['--create', '--keyfile', key], { env });
  const procs: ChildProcess[] = [];
  const killAll = () => {
    for (const p of procs) if (alive(p)) p.kill('SIGKILL');
  };
  process.once('exit', killAll);

  const stop = async () => {
    try {
      // Jobs first, so that no slurmstepd or job process outlives the cluster.
      if (procs.every(alive)) {
        const ids = execFileSync('squeue', ['-h', '-o', '%i'], { env, encoding: 'utf8' }).split('\n').filter(Boolean);
        if (ids.length) execFileSync('scancel', ids, { env, stdio: 'ignore' });
        const until = Date.now() + 15000;
        while (Date.now() < until && execFileSync('squeue', ['-h', '-o', '%i'], { env, encoding: 'utf8' }).trim()) await delay(200);
      }
    } catch {
      // The controller is already gone; stop the daemons anyway.
    }
    for (const p of [...procs].reverse()) await stopDaemon(p);
    process.removeListener('exit', killAll);
    if (process.env.FLOW_KEEP_SLURM_DIR) console.log(`slurm cluster files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };

  try {
    procs.push(
      daemon(
        'munged',
        ['--foreground', '--force', '--key-file', key, '--socket', join(dir, 'munge.sock'), '--pid-file', join(dir, 'munged.pid'), '--log-file', join(dir, 'munged.log'), '--seed-file', join(dir, 'munged.seed')],
        env,
      ),
    );
    await waitFor(() => existsSync(join(dir, 'munge.sock')), 10000, 'munged did not create its socket', dir);
    procs.push(daemon('slurmctld', ['-D', '-i', '-f', conf], env));
    for (const n of nodes) procs.push(daemon('slurmd', ['-D', '-f', conf, '-N', n], env));
    const cli = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    await waitFor(
      () => {
        if (!procs.every(alive)) throw new Error(`a Slurm daemon exited during start-up; logs in ${dir}:\n${tail(dir)}`);
        try {
          const states = cli('sinfo', ['-h', '-N', '-p', partition, '-o', '%T']).trim().split('\n');
          return states.length === nodes.length && states.every((st) => /^idle/.test(st));
        } catch {
          return false;
        }
      },
      30000,
      'the Slurm nodes did not become idle',
      dir,
    );
    process.env.SLURM_CONF = conf;
    return { dir, conf, partition, nodes, gpus, cli, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function tail(dir: string): string {
  return ['munged.log', 'slurmctld.log', ...readdirSync(dir).filter((f) => /^slurmd-.*\.log$/.test(f))]
    .map((f) => {
      try {
        return `--- ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`;
      } catch {
        return `--- ${f}: none`;
      }
    })
    .join('\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(ok: () => boolean, ms: number, what: string, dir: string): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`${what} within ${ms / 1000} s; logs in ${dir}:\n${tail(dir)}`);
    await delay(200);
  }
}
