// Errors of the environment rather than of flow or the recipe: a full disk, a read-only or
// another user's cache, a closed output, a database another process holds. Each is one
// `error:` line saying what happened and what to do, exit 1, never a stack trace.

const FS: Record<string, (where: string) => string> = {
  ENOSPC: (w) => `no space left on the device${w}; free some (\`flow gc\` removes what no run needs) or point --cache-dir elsewhere`,
  EDQUOT: (w) => `disk quota exceeded${w}; free some (\`flow gc\`) or point --cache-dir elsewhere`,
  EACCES: (w) => `permission denied${w}; the cache belongs to another user or was made by root: use your own --cache-dir, or fix its owner (chown -R)`,
  EPERM: (w) => `operation not permitted${w}; the cache belongs to another user or was made by root: use your own --cache-dir, or fix its owner (chown -R)`,
  EROFS: (w) => `read-only file system${w}; read-only commands (plan, status, runs, log, verify) work there; run with a writable --cache-dir`,
  EMFILE: (w) => `too many open files${w}; raise the limit (ulimit -n) or lower --jobs`,
  ENFILE: (w) => `too many open files on the system${w}; lower --jobs`,
  ENAMETOOLONG: (w) => `a file name is too long${w}; use a shorter --cache-dir or output path`,
  EIO: (w) => `an I/O error${w}; the disk may be failing: check it, then run \`flow verify\``,
};

const SQLITE: Record<string, string> = {
  SQLITE_BUSY: 'the cache database is locked by another process for too long; wait for it (another flow run, gc or doctor) and try again',
  SQLITE_READONLY: 'the cache database is read-only; the cache belongs to another user or lies on a read-only file system: use your own --cache-dir',
  SQLITE_FULL: 'no space left for the cache database; free some (`flow gc`) or point --cache-dir elsewhere',
  SQLITE_CANTOPEN: 'the cache database cannot be opened; check that the cache folder exists and is yours, or use another --cache-dir',
  SQLITE_IOERR: 'an I/O error on the cache database; check the disk, then run `flow verify`',
  SQLITE_PERM: 'permission denied on the cache database; use your own --cache-dir',
};

/** The one line for an error of the environment, or undefined for anything else. */
export function environmentError(e: unknown): string | undefined {
  const err = e as { code?: unknown; path?: unknown; message?: unknown } | undefined;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  if (!code) return undefined;
  const fs = FS[code];
  if (fs) return fs(typeof err!.path === 'string' ? ` (${err!.path})` : '');
  const base = Object.keys(SQLITE).find((k) => code === k || code.startsWith(`${k}_`));
  return base ? SQLITE[base] : undefined;
}
