// The protocol between a Python step and the engine: the JSON-lines events its runtime writes on a
// channel of their own (python-steps/flow_runtime/channel.py; schema/step-events.schema.json says
// what each may hold), turned into the step context's progress / metric / artifact / log calls, and
// the one line that says why a step that exited non-zero failed.

import type { ProcessOutcome } from '../steps/process-spec.js';
import { StepError, type StepRunContext } from '../steps/types.js';

interface StepEvent {
  type: string;
  current?: number;
  total?: number | null;
  unit?: string;
  values?: Record<string, number>;
  name?: string;
  value?: number;
  path?: string;
  message?: string;
  /** For 'error': 'user' (bad input), 'check' (a result failed its check) or 'crash' (an exception). */
  kind?: string;
  step?: number;
  /** For 'log': a line for the step's log. */
  line?: string;
}

/** An error the step reported: 'user' (bad input), 'check' (a result failed its check), 'crash' (an exception). */
export interface ReportedError {
  message: string;
  kind: string;
}

/** One line of the event channel, applied to the step's context (an error is kept in `errors`). */
export function handleEvent(ctx: StepRunContext, line: string, errors: ReportedError[]): void {
  let e: StepEvent;
  try {
    e = JSON.parse(line) as StepEvent;
  } catch {
    ctx.log(`(unreadable event) ${line}`, 'stderr');
    return;
  }
  switch (e.type) {
    case 'progress':
      ctx.progress({ current: e.current ?? 0, total: e.total ?? undefined, unit: e.unit, values: e.values });
      break;
    case 'metric':
      if (e.name && typeof e.value === 'number') ctx.metric(e.name, e.value);
      break;
    case 'artifact':
      if (e.name && e.path) ctx.artifact(e.name, e.path);
      break;
    case 'log':
      // The Trainer's line at each logging step: for the log, not for the plain output.
      if (e.line) ctx.log(e.line, 'stdout', false, true);
      break;
    case 'error':
      if (e.message) errors.push({ message: e.message, kind: e.kind ?? 'user' });
      break;
    default:
      // 'loss' (kept in the loss_history output), 'resumed' (logged by the step): nothing more to do.
      break;
  }
}

/** The line of a Python traceback that names the exception (`Type: message`), or the last line the
 * process wrote on stderr where none does (killed, or a crash outside flow_runtime's main). */
function exceptionLine(stderr: string[]): string {
  const lines = stderr.map((l) => l.trim()).filter(Boolean);
  const exc = lines.filter((l) => /^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(:|$)/.test(l)).at(-1);
  return exc ?? lines.at(-1) ?? '';
}

/**
 * Why a step that exited non-zero failed, as one error. An error event is the step's own one-line
 * diagnosis (bad params, a failed load check): no stack trace. Under torchrun/deepspeed the
 * launcher's exit code replaces the rank's 2, and every rank that hit the same error reported it:
 * said once. A crash: the exception's own line, as the step reported it, else as its traceback ends
 * (the whole traceback is in the log).
 */
export function stepFailure(name: string, script: string, result: ProcessOutcome, errors: ReportedError[], stderrTail: string[]): StepError {
  const said = (kinds: string[]) => [...new Set(errors.filter((e) => kinds.includes(e.kind)).map((e) => e.message))];
  const diagnosis = said(['user', 'check']);
  if (diagnosis.length) return new StepError(`${name}: ${diagnosis.join('; ')}`);
  const why = said(['crash']).join('; ') || exceptionLine(stderrTail);
  const how = result.detail ?? `exited with ${result.exitCode ?? result.signal}`;
  return new StepError(`${name}: ${script} ${how}${why ? `: ${why}` : ''}`, result.signal || result.reason ? 'signal' : 'exit-code', result.exitCode);
}
