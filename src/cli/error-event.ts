// The `error` engine event for a run that could not start (bad recipe, bad
// arguments), as `--ui json` prints it.

import type { EngineEvent } from '../events.js';
import { RecipeError, recipeErrorList } from '../recipe/errors.js';

export function errorEvent(kind: 'validation' | 'usage', message: string, e?: RecipeError): EngineEvent {
  const at = e?.pos ? { file: e.pos.file, line: e.pos.line, col: e.pos.col } : {};
  return { type: 'error', kind, message, ...at, ...(e?.field ? { field: e.field } : {}), time: Date.now() };
}

/** The events for an error thrown while preparing a run (one per problem), none when it is not a user-facing one. */
export function errorEventsOf(e: unknown): EngineEvent[] {
  if (e instanceof RecipeError) return recipeErrorList(e).map((one) => errorEvent('validation', one.message, one));
  if ((e as Error)?.name === 'UsageError') return [errorEvent('usage', (e as Error).message)];
  return [];
}
