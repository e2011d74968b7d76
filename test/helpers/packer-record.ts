/**
 * Records real packer runs through the image wrapper, for test/helpers/packer-recordings.ts:
 * a null-source build that succeeds, a `-only` that matches no build, and a build whose
 * provisioning fails. Each is the `-machine-readable` log the wrapper writes beside its output,
 * unchanged. Re-record after a packer upgrade or a template change:
 *
 *   npx tsx test/helpers/packer-record.ts && npx biome format --write test/helpers/packer-recordings.ts
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildRequest, buildImage } from '../../images/build/build-image.ts';
import { ImageError } from '../../images/build/errors.ts';
import { imagePaths } from '../../images/build/paths.ts';
import type { Role } from '../../images/build/templates.ts';

export const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));
export const PATHS = imagePaths(CHECKOUT);

export type Scenario = 'null-build' | 'only-matched-nothing' | 'failing-build';

export interface ScenarioRun {
  /** The wrapper's own output (progress display). */
  readonly output: string;
  /** The raw `-machine-readable` lines packer printed. */
  readonly lines: readonly string[];
  readonly error?: ImageError;
  readonly manifestPath?: string;
}

/** A dry-run request with every path under `dir`. */
export function dryRunRequest(dir: string, role: Role, extra: Partial<BuildRequest> = {}): BuildRequest {
  return {
    role,
    target: 'dry-run',
    zone: 'us-central1-a',
    vars: {},
    outputDir: join(dir, 'out'),
    // The Node runtime is kept where the wrapper keeps it, so each run does not fetch it again.
    cacheDir: join(PATHS.output, 'cache'),
    bundle: PATHS.bundle,
    packer: 'packer',
    buildTimeoutMs: 120_000,
    ...extra,
  };
}

/** Runs one scenario through buildImage with the real packer; never throws an ImageError. */
export async function runScenario(scenario: Scenario, dir: string): Promise<ScenarioRun> {
  let request: BuildRequest;
  switch (scenario) {
    case 'null-build':
      request = dryRunRequest(dir, 'app');
      break;
    case 'only-matched-nothing':
      request = dryRunRequest(dir, 'renewer', { only: 'renewer.null.nothing' });
      break;
    case 'failing-build': {
      await mkdir(dir, { recursive: true });
      const broken = join(dir, 'broken.js');
      await writeFile(broken, "throw new Error('this bundle is broken');\n");
      request = dryRunRequest(dir, 'renewer', { bundle: broken });
      break;
    }
  }
  let output = '';
  const write = (text: string) => {
    output += text;
  };
  try {
    const built = await buildImage(request, { paths: PATHS, write });
    const lines = (await readFile(built.logPath, 'utf8')).split('\n').filter((l) => l !== '');
    return { output, lines, manifestPath: built.manifestPath };
  } catch (err) {
    if (!(err instanceof ImageError)) throw err;
    const log = /Full log: (.+)$/m.exec(err.message)?.[1];
    const lines = log === undefined ? [] : (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '');
    return { output, lines, error: err };
  }
}

async function record(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-record-'));
  try {
    const scenarios: Scenario[] = ['null-build', 'only-matched-nothing', 'failing-build'];
    const runs = [];
    for (const scenario of scenarios) runs.push([scenario, await runScenario(scenario, dir)] as const);
    const { execa } = await import('execa');
    const version = (await execa('packer', ['version'], { env: { CHECKPOINT_DISABLE: '1' } })).stdout.split(
      '\n',
    )[0];
    const body = runs
      .map(([scenario, run]) => {
        const name = scenario.replace(/-(.)/g, (_m, c: string) => c.toUpperCase());
        return `export const ${name}: readonly string[] = ${JSON.stringify(run.lines, null, 2)};\n`;
      })
      .join('\n');
    const header = `/**
 * Real \`packer build -machine-readable\` output (${version}), recorded through the image wrapper by
 * test/helpers/packer-record.ts on ${new Date().toISOString().slice(0, 10)}; not edited by hand.
 *
 * - nullBuild: \`wsfleet images build app --target dry-run\`, which succeeds (artifact \`Null\`).
 * - onlyMatchedNothing: the renewer template built with \`-only=renewer.null.nothing\`: packer
 *   builds nothing and exits 0.
 * - failingBuild: the renewer dry run with a bundle that throws, so install.sh fails.
 */
export const RECORDED_WITH = ${JSON.stringify(version)};

`;
    await writeFile(fileURLToPath(new URL('./packer-recordings.ts', import.meta.url)), header + body);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await record();
}
