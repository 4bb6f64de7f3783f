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

/** A usage error on the command line (exit 2), e.g. an unknown step in --only. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
