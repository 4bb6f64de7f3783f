import { renameSync, writeFileSync } from 'node:fs';

/** Writes beside the target then renames, so a failed run leaves no half file (sql-eval's and sql-vote's outputs). */
export function writeAtomic(file: string, text: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
