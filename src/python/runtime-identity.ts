// What runs a Python step, as part of its key (StepType.runtime). Sources and
// requirements.txt are already in the key; this adds what they do not say:
//   managed env  the base interpreter it is built from (its resolved path and stat: an upgraded
//                Python is a new binary) and the content of the extras' requirement files
//   external     (`python.interpreter`, FLOW_PYTHON) its resolved path and a digest of its
//                version and every installed distribution's name and version, read once per
//                process, since nothing else tells what such an environment holds

import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { StepError, type StepSettings } from '../steps/types.js';
import { requirementFiles } from './env.js';

const LIST_PACKAGES =
  "import sys, importlib.metadata as m; print(sys.version); print('\\n'.join(sorted(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions())))";

const external = new Map<string, Promise<string>>();

/** The executable a name resolves to on PATH (as the shell would), or the name itself if none. */
function onPath(name: string): string {
  if (name.includes('/')) return name;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return name;
}

function fileIdentity(path: string): string {
  try {
    const real = realpathSync(path);
    const st = statSync(real);
    return `${real} ${st.size} ${Math.round(st.mtimeMs)}`;
  } catch {
    return `${path} (not found)`;
  }
}

async function externalIdentity(interpreter: string): Promise<string> {
  const exe = onPath(interpreter);
  const real = isAbsolute(exe) ? fileIdentity(exe) : exe;
  let listing: string;
  try {
    const { execa } = await import('execa'); // loaded here only: start-up stays light
    listing = (await execa(exe, ['-c', LIST_PACKAGES])).stdout;
  } catch (e) {
    throw new StepError(`python: cannot run '${interpreter}': ${(e as Error).message.split('\n')[0]}`);
  }
  return `${real} packages:${createHash('sha256').update(listing).digest('hex').slice(0, 16)}`;
}

export async function pythonRuntime(root: string, settings: StepSettings): Promise<Record<string, string>> {
  const { interpreter, extras } = settings.python;
  if (interpreter) {
    let p = external.get(interpreter);
    if (!p) external.set(interpreter, (p = externalIdentity(interpreter)));
    return { python: await p };
  }
  const base = process.env.FLOW_BASE_PYTHON ?? 'python3';
  const h = createHash('sha256');
  for (const f of requirementFiles(root, extras).slice(1)) h.update(readFileSync(f));
  return { python: `managed from ${fileIdentity(onPath(base))}`, ...(extras.length ? { extras: `${extras.join(',')} ${h.digest('hex').slice(0, 16)}` } : {}) };
}
