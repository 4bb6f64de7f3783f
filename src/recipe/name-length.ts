// The recipe's name and each step id name a file under the cache (latest/<recipe>/<step>), and
// each part of an output path a file in a work dir. A file system refuses a name over 255 bytes
// (ENAMETOOLONG) only once the step has run; these limits refuse it at load, where it is written.

/** Step ids and the recipe name: well under 255 bytes, so a matrix variant's suffix still fits. */
export const MAX_NAME_CHARS = 200;
/** A file or folder name, the file systems' own limit (NAME_MAX). */
export const MAX_PART_BYTES = 255;

/** Why a step id or recipe name is too long, or undefined. */
export function nameTooLong(what: string, name: string): string | undefined {
  if (name.length <= MAX_NAME_CHARS) return undefined;
  return `${what} is at most ${MAX_NAME_CHARS} characters (it names a file in the cache; this one has ${name.length})`;
}

/** Why a relative output path cannot be a file name (a part over 255 bytes), or undefined. */
export function pathPartTooLong(rel: string): string | undefined {
  const longest = Math.max(...rel.split(/[\\/]/).map((p) => Buffer.byteLength(p)));
  if (longest <= MAX_PART_BYTES) return undefined;
  return `a file or folder name is at most ${MAX_PART_BYTES} bytes (this one has ${longest})`;
}
