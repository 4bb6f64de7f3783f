// A JSON Schema validator compiled once per schema, not once per process: ajv's
// compile of the recipe schema is a good share of a `flow plan`'s start-up, so
// its generated code (ajv's "standalone" output) is kept beside the compiled JS
// under dist/.validators/, named by a digest of the schema, ajv's version and the
// options; a changed schema gets a new file and never meets an old one. Where that
// folder cannot be written (a read-only install) or under vitest (sources, no
// dist/), the schema is compiled in memory as before.

import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Options, ValidateFunction } from 'ajv';
import { ROOT, RUNNING_COMPILED } from '../root.js';

const require = createRequire(import.meta.url);

function compileInMemory(schema: object, options: Options): ValidateFunction {
  const { Ajv } = require('ajv') as typeof import('ajv');
  return new Ajv(options).compile(schema);
}

export function compiledValidator(name: string, schema: object, options: Options): ValidateFunction {
  if (!RUNNING_COMPILED) return compileInMemory(schema, options);
  const { version } = require('ajv/package.json') as { version: string };
  const digest = createHash('sha256').update(JSON.stringify([version, options, schema])).digest('hex').slice(0, 16);
  const dir = join(ROOT, 'dist', '.validators');
  const file = join(dir, `${name.replace(/[^\w-]/g, '_')}-${digest}.cjs`);
  try {
    return require(file) as ValidateFunction;
  } catch {
    // Not there yet (or unreadable): compile, and write it for the next process.
  }
  const { Ajv } = require('ajv') as typeof import('ajv');
  const standaloneCode = (require('ajv/dist/standalone') as { default: (ajv: InstanceType<typeof Ajv>, v: ValidateFunction) => string }).default;
  const ajv = new Ajv({ ...options, code: { source: true } });
  const validate = ajv.compile(schema);
  try {
    // Written whole, then renamed: a concurrent flow reads the old state or the whole file.
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, standaloneCode(ajv, validate));
    renameSync(tmp, file);
  } catch {
    // Not writable: compile again next time.
  }
  return validate;
}
