// Content digests. Files are hashed with XXH128 (hash-wasm): bench/noop.ts
// measures it at ~3x node:crypto's SHA-256 on this machine (SHA-NI included),
// and a digest here only has to tell honest versions of an artifact apart,
// not resist an adversary. Keys (small JSON) use SHA-256 from node:crypto.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { IHasher } from 'hash-wasm';

const CHUNK = 4 << 20;
const hasherPool: IHasher[] = [];

async function takeHasher(): Promise<IHasher> {
  const pooled = hasherPool.pop();
  if (pooled) return pooled;
  // Loaded on the first file hashed, not by every process that imports this module: hash-wasm
  // resolves to 270 KB of UMD that Node scans as CommonJS, a good share of a cached `flow plan`.
  const { createXXHash128 } = await import('hash-wasm');
  return createXXHash128();
}

/** Bytes hashed by this process, for the benchmark's "hashed 0 bytes" check. */
export const hashStats = { bytes: 0, files: 0 };

/** `sizeHint` (the file's size from a stat) keeps the read buffer small for small files, many of which may be hashed at once. */
export async function hashFileContent(path: string, sizeHint = CHUNK): Promise<string> {
  const hasher = await takeHasher();
  hasher.init();
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK, sizeHint + 1)));
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
      hashStats.bytes += bytesRead;
    }
  } finally {
    await fh.close();
  }
  hashStats.files++;
  const digest = hasher.digest('hex');
  hasherPool.push(hasher);
  return digest;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with sorted object keys, so equal values always serialize (and hash) equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}
