// The step type behind `run:` steps: a bash command run in the step's work
// directory, with the outputs the recipe declares.

import type { StepDef } from '../recipe/types.js';
import { runProcess } from '../scheduler/process.js';
import { StepError, type StepType } from './types.js';

export const SHELL_TYPE = 'run';

export function shellStepType(step: StepDef): StepType {
  return {
    name: SHELL_TYPE,
    description: 'A shell command',
    schema: { type: 'object' },
    outputs: step.outputs,
    inputs: [],
    sources: [],
    async run(ctx) {
      const command = ctx.with.command as string;
      const res = await runProcess({
        file: 'bash',
        args: ['-eo', 'pipefail', '-c', command],
        cwd: ctx.workDir,
        env: ctx.env,
        signal: ctx.signal,
        onLine: (line, stream, partial) => ctx.log(line, stream, partial),
      });
      if (res.cancelled) throw new StepError('cancelled');
      if (res.exitCode !== 0) {
        const why = res.signal ? `killed by ${res.signal}` : `exited with code ${res.exitCode}`;
        throw Object.assign(new StepError(`command ${why}`), { exitCode: res.exitCode });
      }
    },
  };
}
