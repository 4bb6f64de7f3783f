// The composition root of step types: the registry gets the built-in steps
// from steps/ itself and the Python steps from here, so src/steps never
// imports a plugin.

import { loadPythonStepTypes } from '../python/step-types.js';
import { compiledValidator } from '../recipe/compiled-validator.js';
import { ROOT } from '../root.js';
import { StepRegistry } from '../steps/registry.js';

export function createStepRegistry(root = ROOT): StepRegistry {
  // The manifests' form is checked by a validator whose compiled code is kept between processes.
  const compile = (name: string, schema: object) => compiledValidator(name, schema, { allErrors: true, strict: false });
  return new StepRegistry(root, [{ load: () => loadPythonStepTypes(root, compile) }]);
}
