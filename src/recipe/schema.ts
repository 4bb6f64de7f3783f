// The JSON Schema of a recipe file. Step `with:` blocks are validated later,
// each against its own step type's schema; write-schema.ts folds those in as
// if/then branches for the committed schema/recipe.schema.json that editors use.

const scalar = { type: ['string', 'number', 'boolean', 'null'] };

/** `executor: local` or `executor: { type: slurm, partition: gpu, ... }`; the type is checked against the registered executors. */
export const executorSchema = {
  description: "Where the step's process runs: 'local' (default) or { type: slurm, partition, account, time, extra }.",
  anyOf: [
    { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
    {
      type: 'object',
      required: ['type'],
      properties: {
        type: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
        partition: { type: 'string' },
        account: { type: 'string' },
        time: { type: 'string' },
        extra: { type: 'array', items: { type: 'string' } },
      },
    },
  ],
} as const;

export const stepSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    uses: { type: 'string', description: "A built-in step type ('spider-sft', 'sql-eval') or 'python:<name>'." },
    run: { type: 'string', description: 'A shell command, run with bash in the step\'s own work directory.' },
    with: { type: 'object', description: 'Parameters of the step type, checked against its schema.' },
    inputs: {
      type: 'array',
      items: { type: 'string' },
      description: 'Files, folders or globs (relative to the recipe) that a shell step reads; their content enters the key.',
    },
    outputs: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Output name -> path relative to the work directory (shell steps). An output named metrics is recorded as metrics.',
    },
    needs: {
      type: 'array',
      items: { type: 'string' },
      description: 'Steps that must finish first, beyond those referenced with ${steps.X.outputs.Y}.',
    },
    resources: {
      type: 'object',
      additionalProperties: false,
      properties: {
        gpus: {
          anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\$\\{params\\.[A-Za-z_][A-Za-z0-9_]*\\}$' }],
          description: 'GPU ids handed to the step (CUDA_VISIBLE_DEVICES): a number, or ${params.NAME}.',
        },
        cpus: { type: 'integer', minimum: 1, description: 'CPU cores (for batch schedulers such as Slurm).' },
        memory: { type: 'string', pattern: '^[0-9]+[KMGT]?$', description: "Memory, e.g. '16G' (for batch schedulers)." },
        time: { type: 'string', pattern: '^([0-9]+-)?[0-9]{1,2}:[0-9]{2}:[0-9]{2}$', description: "Time limit 'HH:MM:SS' or 'D-HH:MM:SS' (for batch schedulers)." },
        nodes: { type: 'integer', minimum: 1, description: 'Nodes (for batch schedulers).' },
      },
    },
    executor: executorSchema,
    env: { type: 'object', additionalProperties: scalar, description: 'Extra environment variables for the step.' },
    select: {
      type: 'object',
      additionalProperties: false,
      required: ['best'],
      description: "Which checkpoint ${steps.T.outputs.checkpoint} means in this step: the best one by a per-checkpoint step's metric (instead of one instance per checkpoint).",
      properties: {
        best: {
          type: 'object',
          additionalProperties: false,
          required: ['step', 'metric'],
          properties: {
            step: { type: 'string', description: 'A step scored per checkpoint (e.g. the eval on the validation split).' },
            metric: { type: 'string', description: "A metric that step records (e.g. ex); a per-group metric's 'all' is used." },
            goal: { enum: ['max', 'min'], default: 'max', description: 'max (accuracy) or min (a loss).' },
          },
        },
      },
    },
  },
} as const;

export const recipeSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'flow recipe',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'steps'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'Recipe name (used in run records).' },
    description: { type: 'string' },
    params: {
      type: 'object',
      description: 'Defaults for ${params.NAME}; override with --set NAME=VALUE.',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
    },
    matrix: {
      type: 'object',
      description: 'Sweep params: each axis lists values; include/exclude add or drop combinations.',
      properties: {
        include: { type: 'array', items: { type: 'object' } },
        exclude: { type: 'array', items: { type: 'object' } },
      },
      additionalProperties: { type: 'array', minItems: 1, items: scalar },
    },
    python: {
      type: 'object',
      additionalProperties: false,
      properties: {
        extras: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9-]+$' }, description: 'Extra requirement sets for the managed environment: python-steps/requirements-<name>.txt.' },
        interpreter: { type: 'string', description: 'Use this Python instead of the managed environment.' },
      },
    },
    report_to: {
      type: 'object',
      additionalProperties: false,
      description: 'Trackers that get the training curves (from the Trainer) and flow\'s own figures: one tracker run per flow run (per variant in a sweep). None by default.',
      properties: {
        tensorboard: {
          type: 'object',
          additionalProperties: false,
          properties: { dir: { type: 'string', description: 'Log folder, relative to the recipe (default: <cache>/tensorboard); a run writes <dir>/<recipe>/<run id>.' } },
        },
        mlflow: {
          type: 'object',
          additionalProperties: false,
          required: ['tracking_uri'],
          properties: {
            tracking_uri: { type: 'string', description: 'The MLflow tracking server (http://...) or store (file:..., sqlite:...).' },
            experiment: { type: 'string', description: 'Experiment name (default: the recipe name).' },
          },
        },
        wandb: {
          type: 'object',
          additionalProperties: false,
          required: ['project'],
          properties: {
            project: { type: 'string' },
            entity: { type: 'string' },
            mode: { enum: ['online', 'offline'], default: 'online', description: 'offline writes to <dir> only; sync later with `wandb sync`.' },
            dir: { type: 'string', description: 'Folder for W&B files, relative to the recipe.' },
          },
        },
      },
    },
    executor: executorSchema,
    steps: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' },
      additionalProperties: stepSchema,
    },
  },
} as const;
