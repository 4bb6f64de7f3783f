// Exit codes and argument parsing shared by the commands.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../recipe/errors.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: string[], options: Options): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    return parseArgs({ args: argv, options: { ...options, 'cache-dir': { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}

