/**
 * Where the app's secrets come from when they are not given as values: a Secret Manager secret,
 * named `gcp:PROJECT/SECRET[@VERSION]` (version `latest` by default). The operator's machine reads
 * it through gcloud (its login); an app VM through the API with its service account's token from
 * the metadata server (fetch-secrets-command.ts). Errors name the secret, never a value.
 */
import { execFile } from 'node:child_process';
import { errorFamily } from '../shared/errors.ts';

export class SecretError extends errorFamily<'WSFLEET_SECRET_UNAVAILABLE'>('SecretError') {}

export interface SecretRef {
  readonly project: string;
  readonly secret: string;
  /** A version number or `latest`. */
  readonly version: string;
}

export const SECRET_REF_PATTERN =
  /^gcp:([a-z][a-z0-9-]{4,28}[a-z0-9])\/([A-Za-z0-9_-]{1,255})(?:@(latest|[1-9]\d{0,9}))?$/;

export function parseSecretRef(text: string): SecretRef | undefined {
  const m = SECRET_REF_PATTERN.exec(text);
  if (m === null) return undefined;
  return { project: m[1] ?? '', secret: m[2] ?? '', version: m[3] ?? 'latest' };
}

export function showRef(ref: SecretRef): string {
  return `gcp:${ref.project}/${ref.secret}@${ref.version}`;
}

/** The value of `ref`, read with `gcloud secrets versions access` (gcloud checks its CRC32C). */
export function readWithGcloud(
  ref: SecretRef,
  gcloud: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<string> {
  const args = [
    'secrets',
    'versions',
    'access',
    ref.version,
    `--secret=${ref.secret}`,
    `--project=${ref.project}`,
    '--quiet',
  ];
  return new Promise((resolve, reject) => {
    execFile(
      gcloud,
      args,
      { env, timeout: timeoutMs, maxBuffer: 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve(stdout);
          return;
        }
        // gcloud's own error lines name the secret and the reason; stdout (the value) is not quoted.
        const reason =
          stderr
            .split('\n')
            .filter((l) => l.startsWith('ERROR:'))
            .join(' ')
            .slice(0, 500) ||
          (err.message.split('\n')[0] ?? 'gcloud failed');
        reject(
          new SecretError(
            'WSFLEET_SECRET_UNAVAILABLE',
            `cannot read ${showRef(ref)} with ${gcloud}: ${reason}`,
            {
              cause: err,
            },
          ),
        );
      },
    );
  });
}
