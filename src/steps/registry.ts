// Finds step types by name: built-in TypeScript steps (steps/<name>/), Python
// steps (python-steps/<name>.py + .json) and the shell type behind `run:`.
// Step modules load lazily, so a run only imports the types it uses.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, RUNNING_COMPILED } from '../root.js';
import { loadPythonStepTypes } from '../python/step-types.js';
import type { StepType } from './types.js';

export class StepRegistry {
  private readonly builtins: Map<string, string>;
  private python?: Map<string, StepType>;
  private readonly loaded = new Map<string, Promise<StepType>>();

  constructor(private readonly root = ROOT) {
    this.builtins = new Map();
    const stepsDir = join(root, 'steps');
    if (existsSync(stepsDir)) {
      for (const e of readdirSync(stepsDir, { withFileTypes: true })) {
        if (!e.isDirectory()) continue;
        const mod = RUNNING_COMPILED
          ? join(root, 'dist', 'steps', e.name, 'index.js')
          : join(stepsDir, e.name, 'index.ts');
        if (existsSync(mod)) this.builtins.set(e.name, mod);
      }
    }
  }

  private pythonTypes(): Map<string, StepType> {
    this.python ??= new Map(loadPythonStepTypes(this.root).map((t) => [t.name, t]));
    return this.python;
  }

  names(): string[] {
    return [...this.builtins.keys(), ...this.pythonTypes().keys()].sort();
  }

  has(name: string): boolean {
    return this.builtins.has(name) || this.pythonTypes().has(name);
  }

  get(name: string): Promise<StepType> {
    let p = this.loaded.get(name);
    if (!p) {
      const py = this.pythonTypes().get(name);
      const mod = this.builtins.get(name);
      if (py) p = Promise.resolve(py);
      else if (mod) p = import(pathToFileURL(mod).href).then((m: { default: StepType }) => m.default);
      else p = Promise.reject(new Error(`unknown step type "${name}"`));
      this.loaded.set(name, p);
    }
    return p;
  }
}
