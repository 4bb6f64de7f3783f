// Kept apart from db.ts so the CLI can recognise a damaged database in its error
// handler without loading better-sqlite3 at start-up.

/** SQLite's words for a file that is not (or no longer) a sound database. */
export function isDamage(e: unknown): boolean {
  const code = (e as { code?: string })?.code ?? '';
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB';
}
