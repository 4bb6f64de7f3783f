// The one "unchanged file" rule (git's index rule), for inputs (file-state.ts) and the store's
// objects (store.ts) alike: a file whose size, mtime, ctime and inode all equal the ones recorded
// when its bytes were last hashed still holds those bytes. The ctime is what catches a file
// rewritten in place with its mtime put back (touch -r, cp -p, rsync -t, tar x): no user call
// can set it.

import type { BigIntStats } from 'node:fs';

/** A file's stat as recorded (bigints as text: nanoseconds overflow a double). */
export interface StatRecord {
  size: number;
  mtime_ns: string;
  ctime_ns: string;
  inode: string;
}

export function statRecord(st: BigIntStats): StatRecord {
  return { size: Number(st.size), mtime_ns: st.mtimeNs.toString(), ctime_ns: st.ctimeNs.toString(), inode: st.ino.toString() };
}

export function unchanged(rec: StatRecord, st: BigIntStats): boolean {
  return rec.size === Number(st.size) && rec.mtime_ns === st.mtimeNs.toString() && rec.ctime_ns === st.ctimeNs.toString() && rec.inode === st.ino.toString();
}
