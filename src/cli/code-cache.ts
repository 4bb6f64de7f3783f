// Runs a CommonJS file through V8's code cache: the bundle's third-party code
// (yaml and commander, dist/bundle/vendor.cjs, see scripts/bundle.mjs) is
// otherwise parsed and compiled again by every flow process, function by
// function as it first runs, a good share of a cached `flow plan`. Node 20 has
// no such cache for its own loaders (module.enableCompileCache is Node 22), so
// the file is compiled here with vm.Script, given the data V8 produced for it
// last time, and after the first run the data (now holding every function that
// ran) is written for the next process.
//
// The data is named by a digest of the source, Node's version and the
// architecture, and carries its own SHA-256: a stale file is never looked up,
// a corrupt or truncated one fails the check and is replaced, and one V8 still
// rejects (other flags) is simply not used. Nothing here can change what the
// code does; at worst it is compiled as without a cache. Where the folder
// cannot be written (a read-only install) every process compiles as before.
//
// It earns its place: a warm `flow plan` of a 3-step recipe took a median 126-128 ms with it and
// 138-143 ms without it (15 runs each, paired, idle 2-core machine, Node 20); on a loaded machine
// the difference drowns in noise, which is how it was once judged useless and removed.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

const loaded = new Map<string, unknown>();

/** How each file was compiled: from intact cached data V8 took, or not (and why). For tests and debugging. */
export type CacheStatus = 'used' | 'none' | 'rejected' | 'source maps';
const statuses = new Map<string, CacheStatus>();
export const cacheStatus = (file: string): CacheStatus | undefined => statuses.get(file);

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest();

/** The cached compile data of `file` in `cacheDir`, if it is there and intact. */
function readData(path: string): Buffer | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    return undefined;
  }
  const data = raw.subarray(32);
  return raw.length > 32 && sha256(data).equals(raw.subarray(0, 32)) ? data : undefined;
}

function writeData(path: string, data: Buffer): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    // Written whole, then renamed: a concurrent flow reads the old state or the whole file.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([sha256(data), data]));
    renameSync(tmp, path);
  } catch {
    // Not writable: the next process compiles without the cache, as this one did.
  }
}

/**
 * What `require(file)` returns, compiled with V8's code cache kept in cacheDir. Once per file and
 * process. The data is written once, holding what the first process ran; `variant` (the command)
 * keeps one set per kind of use, so that a `flow --help` run first does not leave `flow plan`
 * compiling yaml's parser every time.
 */
export function requireCached(file: string, cacheDir: string, variant = ''): unknown {
  if (loaded.has(file)) return loaded.get(file);
  const require = createRequire(file);
  // With --enable-source-maps Node maps stack traces only through code its own loader compiled.
  if (process.sourceMapsEnabled) {
    loaded.set(file, require(file));
    statuses.set(file, 'source maps');
    return loaded.get(file);
  }
  const source = readFileSync(file, 'utf8');
  const key = sha256(`${process.version}\0${process.arch}\0${source}`).toString('hex').slice(0, 16);
  const dataPath = join(cacheDir, `${basename(file)}-${variant ? `${variant}-` : ''}${key}.v8`);
  const data = readData(dataPath);
  // The same wrapper Node's CommonJS loader gives a module; line numbers stay the file's.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData: data });
  const module = { exports: {} as unknown };
  (script.runInThisContext() as (...a: unknown[]) => void).call(module.exports, module.exports, require, module, file, dirname(file));
  loaded.set(file, module.exports);
  statuses.set(file, !data ? 'none' : script.cachedDataRejected === false ? 'used' : 'rejected');
  // At exit, so the data holds the functions this command ran, not only the top level.
  if (statuses.get(file) !== 'used') process.once('exit', () => writeData(dataPath, script.createCachedData()));
  return module.exports;
}
