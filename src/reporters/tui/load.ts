// Loads the TUI reporter. ink draws only a last frame when CI or
// CONTINUOUS_INTEGRATION is set (read once, when ink loads); the TUI runs only
// on a terminal or when asked for, so they are hidden from ink, and only from
// ink: steps still see the environment as it was.

import type { Reporter } from '../../events.js';
import type { TuiReporterOptions } from './index.js';

export async function loadTuiReporter(opts: TuiReporterOptions): Promise<Reporter> {
  const saved = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
  process.env.CI = '0';
  process.env.CONTINUOUS_INTEGRATION = '0';
  try {
    const { createTuiReporter } = await import('./index.js');
    return createTuiReporter(opts);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
