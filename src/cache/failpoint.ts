// Named crash points for the fault-injection tests (tests/cache-faults.test.ts):
// with FLOW_FAILPOINT=<name> the process SIGKILLs itself when it reaches <name>,
// so a test can stop a commit at each step of the way and check what survives.
// Unset (always, outside those tests) it costs one env lookup.

const armed = process.env.FLOW_FAILPOINT;

export function failpoint(name: string): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
}
