/**
 * Reading the fleet config: parsed once with zod (fleet-config.ts) into a frozen object; every
 * problem of the file and of the checks gcloud does not make (checks.ts) is reported at once,
 * before anything is called.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { configProblems } from './checks.ts';
import { FleetConfigError } from './errors.ts';
import { type FleetConfig, fleetSchema } from './fleet-config.ts';

function where(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'the file' : `\`${path.map(String).join('.')}\``;
}

/** The problems of an already-parsed document, schema first, then the cross checks. */
export function validateFleet(document: unknown): { config?: FleetConfig; problems: string[] } {
  const result = fleetSchema.safeParse(document);
  if (!result.success) {
    return { problems: result.error.issues.map((issue) => `${where(issue.path)}: ${issue.message}`) };
  }
  const problems = configProblems(result.data);
  return problems.length > 0 ? { problems } : { config: result.data, problems };
}

/** Parses YAML or JSON text (JSON is YAML, but its errors read better from JSON.parse). */
export function parseFleetText(text: string, file: string): unknown {
  if (file.endsWith('.json')) return JSON.parse(text) as unknown;
  return parseYaml(text, { prettyErrors: true, uniqueKeys: true }) as unknown;
}

/** Reads and checks the fleet config; throws FleetConfigError listing every problem. */
export async function loadFleetConfig(file: string): Promise<FleetConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new FleetConfigError([
      code === 'ENOENT'
        ? `${file}: no such file (write one with \`wsfleet init\`, or name it with --config)`
        : `${file}: cannot be read (${String(code ?? err)})`,
    ]);
  }
  let document: unknown;
  try {
    document = parseFleetText(text, file);
  } catch (err) {
    const why = err instanceof YAMLParseError || err instanceof SyntaxError ? err.message : String(err);
    throw new FleetConfigError([`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${why}`]);
  }
  const { config, problems } = validateFleet(document ?? {});
  if (config === undefined) throw new FleetConfigError(problems.map((p) => `${file}: ${p}`));
  return Object.freeze(config);
}
