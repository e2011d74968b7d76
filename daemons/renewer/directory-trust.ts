/**
 * Trust for a private ACME CA's HTTPS (`--directory-ca`): an agent that accepts the system's
 * roots and the given ones, as NODE_EXTRA_CA_CERTS would, but for the ACME client only and with
 * a clear error when the file is wrong.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { ConfigError } from '../shared/errors.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates in `file`; ConfigError when it cannot be read or holds none. */
export function readDirectoryCa(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `\`--directory-ca\` ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    ]);
  }
  const pems = text.match(PEM_CERTIFICATE) ?? [];
  if (pems.length === 0) throw new ConfigError([`\`--directory-ca\` ${file} holds no PEM certificate`]);
  return pems;
}

/** An agent trusting the system's roots and those in `file`. */
export function directoryAgent(file: string): Agent {
  return new Agent({ ca: [...rootCertificates, ...readDirectoryCa(file)], keepAlive: true });
}
