// The values `flow compare`'s --metric and --format accept: in a module of their own (no imports),
// so the command line can offer them as choices without loading the store or the comparison.

export type CompareMetric = 'ex' | 'em' | 'rouge';
export const COMPARE_METRICS: readonly CompareMetric[] = ['ex', 'em', 'rouge'];
export type CompareFormat = 'md' | 'csv' | 'json' | 'text';
export const COMPARE_FORMATS: readonly CompareFormat[] = ['text', 'md', 'csv', 'json'];
