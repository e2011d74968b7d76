/**
 * A throwaway TLS authority for test servers (Pebble's own HTTPS API, the ARI proxy): a CA and a
 * leaf for 127.0.0.1 and localhost, made with the `openssl` CLI because node:crypto cannot build
 * X.509 certificates. Clients trust `caPem`; the servers present `certPem`/`keyPem`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestTls {
  /** The CA certificate: what clients trust. */
  readonly caPem: string;
  /** Leaf for IP:127.0.0.1 and DNS:localhost, signed by the CA. */
  readonly certPem: string;
  readonly keyPem: string;
}

/** Runs openssl with an argument list (never a shell string); bounded. */
export async function openssl(args: readonly string[], cwd: string): Promise<string> {
  const { stdout } = await run('openssl', args, { cwd, timeout: 15_000 });
  return stdout;
}

export async function createTestTls(): Promise<TestTls> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-tls-'));
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    await openssl(
      [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '7',
        '-subj',
        '/CN=wsfleet test TLS CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    await openssl(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=127.0.0.1'], dir);
    await writeFile(
      join(dir, 'leaf.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '',
      ].join('\n'),
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        'leaf.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        '2',
        '-days',
        '7',
        '-extfile',
        'leaf.ext',
        '-out',
        'leaf.pem',
      ],
      dir,
    );
    const [caPem, certPem, keyPem] = await Promise.all(
      ['ca.pem', 'leaf.pem', 'leaf.key'].map((f) => readFile(join(dir, f), 'utf8')),
    );
    return { caPem: caPem as string, certPem: certPem as string, keyPem: keyPem as string };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
