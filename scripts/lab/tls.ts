/**
 * A throwaway TLS authority for the lab's and the tests' own HTTPS servers (Pebble's API, the ARI
 * proxy): a CA and one leaf for the addresses and names asked for (127.0.0.1 and localhost by
 * default; the lab's bridge address for its Pebble), made with the `openssl` CLI because
 * node:crypto cannot build X.509 certificates. Clients trust `caPem`; the server presents
 * `certPem`/`keyPem`. Both are valid for 7 days.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestTls {
  /** The CA certificate: what clients trust. */
  readonly caPem: string;
  /** Leaf for the addresses and names asked for, signed by the CA. */
  readonly certPem: string;
  readonly keyPem: string;
}

/** Runs openssl with an argument list (never a shell string); bounded. */
export async function openssl(args: readonly string[], cwd: string): Promise<string> {
  const { stdout } = await run('openssl', args, { cwd, timeout: 15_000 });
  return stdout;
}

export interface TestTlsOptions {
  /** IP addresses the leaf is valid for (default 127.0.0.1). */
  readonly ips?: readonly string[];
  /** DNS names the leaf is valid for (default localhost). */
  readonly names?: readonly string[];
}

const DNS_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

export async function createTestTls({
  ips = ['127.0.0.1'],
  names = ['localhost'],
}: TestTlsOptions = {}): Promise<TestTls> {
  // They go into an openssl extension file: anything but an address or a name would change it.
  const bad = [...ips.filter((ip) => isIP(ip) === 0), ...names.filter((n) => !DNS_NAME.test(n))];
  if (bad.length > 0) throw new TypeError(`not an IP address or DNS name: ${bad.join(', ')}`);
  if (ips.length + names.length === 0)
    throw new TypeError('a certificate needs at least one address or name');
  const altNames = [...ips.map((ip) => `IP:${ip}`), ...names.map((n) => `DNS:${n}`)].join(',');
  const subject = ips[0] ?? names[0] ?? '';
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
    await openssl(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${subject}`], dir);
    await writeFile(
      join(dir, 'leaf.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${altNames}`,
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
