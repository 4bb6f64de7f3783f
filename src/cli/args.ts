// The exit-code table and the option-value parsers shared by the commands.
// A bad value throws commander's InvalidArgumentError, which the CLI prints
// as one `error:` line with exit 2, like every other usage error.

import { InvalidArgumentError } from 'commander';

/** 0 ok, 1 a step failed (or nothing to show), 2 usage or validation error, 130 cancelled. */
export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

export function wholeNumber(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n)) throw new InvalidArgumentError('expected a whole number (0 or more).');
  return n;
}

/** `--gpus 0,1`: GPU ids; kept as the text the scheduler reads, once checked. */
export function gpuList(v: string): string {
  for (const s of v.split(',').map((x) => x.trim())) {
    if (s === '' || s === '-1') continue;
    if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`bad GPU id "${s}", expected e.g. --gpus 0,1.`);
  }
  return v;
}

/** Repeatable options (--set a=1 --set b=2). */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** `--only a,b`: a comma-separated list. */
export function list(s: string | undefined): string[] | undefined {
  return s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined;
}
