// The `error` engine event for a run that could not start (bad recipe, bad
// arguments), as `--ui json` prints it.

import type { EngineEvent } from '../events.js';
import { RecipeError } from '../recipe/errors.js';

export function errorEvent(kind: 'validation' | 'usage', message: string, e?: RecipeError): EngineEvent {
  const at = e?.pos ? { file: e.pos.file, line: e.pos.line, col: e.pos.col } : {};
  return { type: 'error', kind, message, ...at, ...(e?.field ? { field: e.field } : {}), time: Date.now() };
}

/** The event for an error thrown while preparing a run, or undefined when it is not a user-facing one. */
export function errorEventOf(e: unknown): EngineEvent | undefined {
  if (e instanceof RecipeError) return errorEvent('validation', e.message, e);
  if ((e as Error)?.name === 'UsageError') return errorEvent('usage', (e as Error).message);
  return undefined;
}
