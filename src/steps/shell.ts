// The step type behind `run:` steps: a bash command run in the step's work
// directory, with the outputs the recipe declares, through the executor the
// scheduler chose (ctx.exec).

import type { StepDef } from '../recipe/types.js';
import { failOnOutcome, type StepType } from './types.js';

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
      // The values of the command's references (shell-refs.ts).
      const vars = (ctx.with.vars ?? {}) as Record<string, string>;
      const outcome = await ctx.exec({
        file: 'bash',
        args: ['-eo', 'pipefail', '-c', command],
        cwd: ctx.workDir,
        env: { ...ctx.env, ...vars },
        name: { runId: ctx.runId, stepId: ctx.stepId },
        resources: ctx.resources ?? step.resources,
        signal: ctx.signal,
        onLine: (line, stream, partial) => ctx.log(line, stream, partial),
      });
      failOnOutcome('command', outcome);
    },
  };
}
