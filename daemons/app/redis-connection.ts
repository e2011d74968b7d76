/**
 * What the app needs to reach Redis besides its URL: the CAs that sign Redis's TLS certificate
 * and the password Redis asks for (Memorystore's in-transit encryption and AUTH). Both come from
 * files, read once at start: the AUTH string is fetched on the VM at boot into a file only root
 * and the app can read, so it is never in metadata, in the unit or in a log line.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../shared/errors.ts';

export interface RedisConnection {
  readonly url: string;
  /** PEM CAs; set for rediss:// URLs given a CA file (else Node's bundle verifies the server). */
  readonly ca?: string;
  readonly password?: string;
}

export interface RedisConnectionOptions {
  readonly redisUrl: string;
  readonly redisCaFile?: string | undefined;
  readonly redisPassword?: string | undefined;
  readonly redisPasswordFile?: string | undefined;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Reads the files; throws ConfigError listing every problem (exit 78). */
export function redisConnectionOf(options: RedisConnectionOptions): RedisConnection {
  const problems: string[] = [];
  const tls = new URL(options.redisUrl).protocol === 'rediss:';
  let ca: string | undefined;
  let password: string | undefined;
  if (options.redisCaFile !== undefined) {
    if (!tls) problems.push('`--redis-ca-file` needs a rediss:// `--redis-url` (TLS), got redis://');
    const text = readText(options.redisCaFile, '--redis-ca-file', problems);
    if (text !== undefined) {
      const certs = text.match(PEM_CERT) ?? [];
      const bad = certs.filter((pem) => !parses(pem));
      if (certs.length === 0 || bad.length > 0)
        problems.push(
          `Expected \`--redis-ca-file\` to hold PEM certificates, got ${options.redisCaFile} without a valid one`,
        );
      else ca = certs.join('\n');
    }
  }
  if (options.redisPassword !== undefined && options.redisPasswordFile !== undefined)
    problems.push('Give `--redis-password` or `--redis-password-file`, not both');
  password = options.redisPassword;
  if (options.redisPasswordFile !== undefined) {
    const text = readText(options.redisPasswordFile, '--redis-password-file', problems);
    // A trailing newline is the file's, not the password's.
    const value = text?.replace(/\r?\n$/, '');
    if (value !== undefined && (value === '' || /[\r\n]/.test(value)))
      problems.push(
        `Expected \`--redis-password-file\` to hold one line, the password, in ${options.redisPasswordFile}`,
      );
    else password = value;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    url: options.redisUrl,
    ...(ca === undefined ? {} : { ca }),
    ...(password === undefined ? {} : { password }),
  };
}

function readText(path: string, flag: string, problems: string[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    problems.push(`Expected \`${flag}\` to name a readable file, got ${path} (${code})`);
    return undefined;
  }
}

function parses(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}
