/**
 * The gcloud reads of the image build's checks (gce-preflight.ts): the project, JSON output and
 * no prompts on every call, each bounded in time; a resource that does not exist is undefined.
 */
import { execa } from 'execa';
import { ImageError } from './errors.ts';
import type { GcloudRead } from './gce-preflight.ts';

export interface GcloudReadOptions {
  readonly gcloud: string;
  readonly project: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly timeoutMs?: number;
}

const NOT_FOUND = /was not found|\bNOT_FOUND\b|HTTPError 404|not found: 404/;

export function createGcloudRead({
  gcloud,
  project,
  env,
  timeoutMs = 60_000,
}: GcloudReadOptions): GcloudRead {
  return async (args) => {
    const result = await execa(gcloud, [...args, `--project=${project}`, '--format=json', '--quiet'], {
      ...(env === undefined ? {} : { env: { ...env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' }, extendEnv: false }),
      reject: false,
      stdin: 'ignore',
      timeout: timeoutMs,
    });
    if (result.exitCode === 0) {
      const out = result.stdout.trim();
      if (out === '') return undefined;
      try {
        return JSON.parse(out) as unknown;
      } catch {
        return out;
      }
    }
    if ((result as { code?: string }).code === 'ENOENT')
      throw new ImageError(
        'WSFLEET_PREFLIGHT_FAILED',
        `\`${gcloud}\` was not found: the checks before a gce build read the project with gcloud. Install the Google Cloud CLI or name it with --gcloud.`,
      );
    if (NOT_FOUND.test(result.stderr)) return undefined;
    const why = result.stderr.split('\n').find((l) => l.startsWith('ERROR:')) ?? result.shortMessage;
    throw new ImageError('WSFLEET_PREFLIGHT_FAILED', `gcloud ${args.join(' ')}: ${why}`);
  };
}
