// Finds step types by name: built-in TypeScript steps (steps/<name>/), plugin
// folders listed in FLOW_STEPS_PATH (each holding steps/<name>/index.js), and
// whatever providers the composition root (src/cli/registry.ts) hands in,
// such as the Python steps. Step modules load lazily, so a run only imports
// the types it uses; the registry never imports a provider itself.

import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, RUNNING_COMPILED } from '../root.js';
import type { StepType } from './types.js';

/** A source of step types other than steps/<name>/ modules (e.g. python-steps/). */
export interface StepProvider {
  /** Every type it offers, by name. Called once, on first use. */
  load(): StepType[];
}

interface ModuleRef {
  file: string;
  /** Plugin folder the step's relative `sources` resolve against; undefined for built-ins. */
  pluginRoot?: string;
}

export class StepRegistry {
  private readonly modules = new Map<string, ModuleRef>();
  private provided?: Map<string, StepType>;
  private readonly loaded = new Map<string, Promise<StepType>>();

  constructor(
    root = ROOT,
    private readonly providers: StepProvider[] = [],
  ) {
    const stepsDir = join(root, 'steps');
    for (const name of subdirs(stepsDir)) {
      const file = RUNNING_COMPILED ? join(root, 'dist', 'steps', name, 'index.js') : join(stepsDir, name, 'index.ts');
      if (existsSync(file)) this.modules.set(name, { file });
    }
    for (const dir of (process.env.FLOW_STEPS_PATH ?? '').split(delimiter).filter(Boolean)) {
      const pluginRoot = resolve(dir);
      for (const name of subdirs(join(pluginRoot, 'steps'))) {
        const file = join(pluginRoot, 'steps', name, 'index.js');
        if (existsSync(file)) this.modules.set(name, { file, pluginRoot });
      }
    }
  }

  private providedTypes(): Map<string, StepType> {
    this.provided ??= new Map(this.providers.flatMap((p) => p.load()).map((t) => [t.name, t]));
    return this.provided;
  }

  names(): string[] {
    return [...this.modules.keys(), ...this.providedTypes().keys()].sort();
  }

  has(name: string): boolean {
    return this.modules.has(name) || this.providedTypes().has(name);
  }

  get(name: string): Promise<StepType> {
    let p = this.loaded.get(name);
    if (!p) {
      const provided = this.providedTypes().get(name);
      const mod = this.modules.get(name);
      if (provided) p = Promise.resolve(provided);
      else if (mod) p = import(pathToFileURL(mod.file).href).then((m: { default: StepType }) => withPluginSources(m.default, mod.pluginRoot));
      else p = Promise.reject(new Error(`unknown step type "${name}"`));
      this.loaded.set(name, p);
    }
    return p;
  }
}

function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
}

function withPluginSources(type: StepType, pluginRoot: string | undefined): StepType {
  if (!pluginRoot) return type;
  return { ...type, sources: type.sources.map((s) => resolve(pluginRoot, s)) };
}
