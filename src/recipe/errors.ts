import type { SourcePos } from './types.js';

/**
 * A problem with a recipe or with how flow was invoked: printed as one line
 * (`file:line:col: field: message`) with exit code 2, never with a stack trace.
 */
export class RecipeError extends Error {
  constructor(
    message: string,
    readonly pos?: SourcePos,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'RecipeError';
  }

  format(): string {
    const where = this.pos ? `${this.pos.file}:${this.pos.line}:${this.pos.col}: ` : '';
    const field = this.field ? `${this.field}: ` : '';
    return `${where}${field}${this.message}`;
  }
}

/**
 * Several problems found in one pass (the plan's preflight: every missing input, every
 * GPU-only option), so a user fixes them all at once instead of one per attempt. It is
 * the first problem to code that knows only RecipeError; the CLI prints every one.
 */
export class RecipeErrors extends RecipeError {
  constructor(readonly errors: RecipeError[]) {
    super(errors[0]!.message, errors[0]!.pos, errors[0]!.field);
    this.name = 'RecipeErrors';
  }
}

/** Each problem a RecipeError stands for, in order (one for a plain RecipeError). */
export function recipeErrorList(e: RecipeError): RecipeError[] {
  return e instanceof RecipeErrors ? e.errors : [e];
}

/** Throws the problems found, one as itself, several together; returns when there are none. */
export function throwAll(errors: RecipeError[]): void {
  const flat = errors.flatMap(recipeErrorList);
  if (flat.length === 1) throw flat[0]!;
  if (flat.length > 1) throw new RecipeErrors(flat);
}

/**
 * How to change a recipe value from the command line, when it comes from one param:
 * `${params.model}` -> ` (set it with --set model=PATH)`. Empty otherwise (a literal, or
 * a matrix value), where the message's file:line:col and field name the place to edit.
 */
export function setHint(raw: unknown, placeholder: string): string {
  if (typeof raw !== 'string') return '';
  const params = [...raw.matchAll(/\$\{\s*params\.([^}\s.]+)\s*\}/g)].map((m) => m[1]!);
  const names = [...new Set(params)];
  return names.length === 1 ? ` (set it with --set ${names[0]}=${placeholder})` : '';
}

/** A usage error on the command line (exit 2), e.g. an unknown step in --only. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
