// better-sqlite3 for the evaluator's modules, loaded with require(): importing this
// CommonJS package from an ES module makes Node lex its sources for named exports
// first, about 10 ms of CPU at the start of every worker process.
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

export const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
export type Connection = BetterSqlite3.Database;
export type Statement = BetterSqlite3.Statement;
