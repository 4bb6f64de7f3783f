#!/usr/bin/env node
// `flow --version` is answered here, before the command line (commander) and
// the rest of flow load: it is typed to check an install and should cost no
// more than Node's own start. Everything else goes to the CLI.
import { readFileSync } from 'node:fs';
import module from 'node:module';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`flow ${version}\n`);
} else {
  // Node >= 22.1 keeps V8's compiled code of every module on disk, so the next
  // start skips most of the parsing; Node 20 has no such cache and skips this.
  module.enableCompileCache?.();
  await import('../dist/src/cli/main.js');
}
