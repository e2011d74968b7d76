/**
 * Configuration for every wsfleet command: each setting is a flag and an environment variable
 * (`--redis-url` ↔ `WSFLEET_REDIS_URL`, the flag wins), parsed once with zod into a frozen object.
 * An empty value means "unset"; defaults live in the schemas; every problem is reported at once.
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';

export type OptionKind = 'value' | 'flag' | 'list';

export interface Option<S extends z.ZodType = z.ZodType> {
  /** Validates and converts the raw text; a `.default()` here is the option's default. */
  readonly schema: S;
  /** One line for `--help`. */
  readonly description: string;
  /** Completes "Expected `--port` to be …" in error messages, e.g. "an integer from 1 to 65535". */
  readonly expected: string;
  /** value: `--x v`; flag: `--x` alone is true; list: repeatable `--x a --x b` (env: whitespace-separated). */
  readonly kind?: OptionKind;
  /** Never echoed back in errors or help. */
  readonly secret?: boolean;
}

export type Options = Readonly<Record<string, Option>>;

export type Config<O extends Options> = Readonly<{ [K in keyof O]: z.output<O[K]['schema']> }>;

/** Declares one option, keeping its schema's type. */
export function option<S extends z.ZodType>(spec: Option<S>): Option<S> {
  return spec;
}

export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function envName(key: string): string {
  return `WSFLEET_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

type Raw = string | boolean | string[];

interface RawArgs {
  readonly values: Map<string, Raw>;
  readonly positionals: string[];
  readonly problems: string[];
}

/** True when argv asks for help (`--help` or `-h` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

function parseArgv(options: Options, argv: readonly string[]): RawArgs {
  const byFlag = new Map(Object.keys(options).map((key) => [flagName(key), key]));
  const values = new Map<string, Raw>();
  const positionals: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const key = byFlag.get(flag);
    const spec = key === undefined ? undefined : options[key];
    if (key === undefined || spec === undefined) {
      problems.push(`Unknown flag \`${flag}\``);
      continue;
    }
    const kind = spec.kind ?? 'value';
    if (kind === 'flag') {
      values.set(key, eq === -1 ? true : arg.slice(eq + 1));
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !(argv[i + 1] as string).startsWith('--')) value = argv[++i];
    if (value === undefined) {
      problems.push(`Flag \`${flag}\` needs a value: ${spec.expected}`);
      continue;
    }
    if (kind === 'list') {
      const list = values.get(key);
      const next = Array.isArray(list) ? list : [];
      if (value !== '') next.push(value);
      values.set(key, next);
    } else {
      values.set(key, value);
    }
  }
  return { values, positionals, problems };
}

function fromEnv(spec: Option, text: string): Raw {
  if ((spec.kind ?? 'value') === 'list') return text.split(/\s+/).filter((s) => s !== '');
  return text;
}

function normalize(spec: Option, raw: Raw | undefined): unknown {
  if (raw === undefined || raw === '') return undefined;
  const kind = spec.kind ?? 'value';
  if (kind === 'flag' && typeof raw === 'string') {
    if (/^(true|1|yes|on)$/i.test(raw)) return true;
    if (/^(false|0|no|off)$/i.test(raw)) return false;
    return raw;
  }
  if (kind === 'list' && Array.isArray(raw) && raw.length === 0) return undefined;
  return raw;
}

function show(spec: Option, raw: unknown): string {
  if (spec.secret) return '(hidden)';
  return JSON.stringify(raw);
}

export interface Parsed<O extends Options> {
  readonly config: Config<O>;
  readonly positionals: readonly string[];
}

/**
 * Parses flags (winning) and `WSFLEET_*` variables into a frozen config.
 * Throws a ConfigError that lists every problem found.
 */
export function parseConfig<O extends Options>(
  options: O,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  { maxPositionals = 0 }: { maxPositionals?: number } = {},
): Parsed<O> {
  const args = parseArgv(options, argv);
  const problems = [...args.problems];
  if (args.positionals.length > maxPositionals) {
    const extra = args.positionals.slice(maxPositionals).map((p) => JSON.stringify(p));
    problems.push(`Unexpected argument${extra.length > 1 ? 's' : ''} ${extra.join(', ')}`);
  }
  const input: Record<string, unknown> = {};
  const source: Record<string, 'flag' | 'env'> = {};
  for (const [key, spec] of Object.entries(options)) {
    const flagValue = normalize(spec, args.values.get(key));
    if (flagValue !== undefined) {
      input[key] = flagValue;
      source[key] = 'flag';
      continue;
    }
    const text = env[envName(key)];
    const envValue = text === undefined ? undefined : normalize(spec, fromEnv(spec, text));
    if (envValue !== undefined) {
      input[key] = envValue;
      source[key] = 'env';
    }
  }
  const shape: Record<string, z.ZodType> = {};
  for (const [key, spec] of Object.entries(options)) shape[key] = spec.schema;
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    const seen = new Set<string>();
    for (const issue of result.error.issues) {
      const key = String(issue.path[0]);
      const spec = options[key];
      if (spec === undefined) {
        problems.push(issue.message);
        continue;
      }
      if (seen.has(key)) continue;
      seen.add(key);
      const raw = input[key];
      const names =
        source[key] === 'env'
          ? `\`${envName(key)}\` (${flagName(key)})`
          : `\`${flagName(key)}\` (${envName(key)})`;
      // A custom check explains itself (which name is wrong and why); add its words.
      const why = issue.code === 'custom' && issue.message ? ` (${issue.message})` : '';
      problems.push(
        raw === undefined
          ? `Missing ${names}: expected ${spec.expected}`
          : `Expected ${names} to be ${spec.expected}, got ${show(spec, raw)}${spec.secret ? '' : why}`,
      );
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return { config: Object.freeze(result.data) as Config<O>, positionals: Object.freeze(args.positionals) };
}

function defaultText(spec: Option): string {
  const parsed = spec.schema.safeParse(undefined);
  if (!parsed.success) return 'required';
  const value: unknown = parsed.data;
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return '';
  if (spec.secret) return 'set';
  // A repeatable flag lists its values; a value that is a list (an argv) reads as words.
  const shown = Array.isArray(value) ? value.join(spec.kind === 'list' ? ', ' : ' ') : String(value);
  return `default: ${shown}`;
}

/** The `--help` text: every flag, its variable, what it does and its default. */
export function helpText(usage: string, summary: string, options: Options): string {
  const rows = Object.entries(options).map(([key, spec]) => {
    const kind = spec.kind ?? 'value';
    const flag = `${flagName(key)}${kind === 'flag' ? '' : kind === 'list' ? ' <value>…' : ' <value>'}`;
    const dflt = defaultText(spec);
    return [flag, envName(key), `${spec.description}${dflt ? ` (${dflt})` : ''}`] as const;
  });
  const w0 = Math.max(...rows.map((r) => r[0].length), 6);
  const w1 = Math.max(...rows.map((r) => r[1].length), 6);
  const lines = rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padEnd(w1)}  ${c}`);
  return [
    `Usage: ${usage}`,
    '',
    summary,
    '',
    'Flags (each also read from its environment variable; the flag wins; an empty value means unset):',
    ...lines,
    `  ${'--help'.padEnd(w0)}  ${''.padEnd(w1)}  Show this help`,
    '',
  ].join('\n');
}

/** Schema helpers shared by the daemons' option lists. */
export const schemas = {
  port: (dflt: number) => z.coerce.number().int().min(1).max(65535).default(dflt),
  portOrZero: (dflt: number) => z.coerce.number().int().min(0).max(65535).default(dflt),
  int: (min: number, max: number, dflt: number) => z.coerce.number().int().min(min).max(max).default(dflt),
  positive: (dflt: number) => z.coerce.number().positive().finite().default(dflt),
  url: (protocols: readonly string[]) =>
    z.string().refine((s) => {
      try {
        return protocols.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }),
  level: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** `--log-level`, the same for every daemon. */
export const logLevelOption = option({
  schema: schemas.level(),
  description: 'Log level',
  expected: 'one of fatal, error, warn, info, debug, trace, silent',
});

/** `--json` of the status commands. */
export const jsonOption = option({
  schema: z.boolean().default(false),
  description: 'Print JSON instead of text',
  expected: 'true or false',
  kind: 'flag',
});

/**
 * The opening of every command: with `--help` it prints the help and returns undefined (the
 * command then exits 0); otherwise it parses, throwing a ConfigError that lists every problem.
 */
export function parseCommand<O extends Options>(
  usage: string,
  summary: string,
  options: O,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  parseOptions: { maxPositionals?: number } = {},
): Parsed<O> | undefined {
  if (wantsHelp(argv)) {
    process.stdout.write(helpText(usage, summary, options));
    return undefined;
  }
  return parseConfig(options, argv, env, parseOptions);
}
