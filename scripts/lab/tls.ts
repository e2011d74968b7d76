/**
 * A throwaway TLS authority for the lab's and the tests' own HTTPS servers (Pebble's API, the ARI
 * proxy): a CA and one leaf for the addresses and names asked for (127.0.0.1 and localhost by
 * default; the lab's bridge address for its Pebble), made with the `openssl` CLI because
 * node:crypto cannot build X.509 certificates. Clients trust `caPem`; the server presents
 * `certPem`/`keyPem`. Both are valid for 7 days. `issueLeaf` is the leaf step on its own, for a
 * CA of the caller's (test/helpers/nginx.ts).
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

/** A new P-256 key, as `openssl req` takes it. */
export const EC_KEY: readonly string[] = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Files are named absolute or relative to the folder openssl runs in. */
export interface SignRequest {
  readonly csr: string;
  /** The issuing CA's certificate and key. */
  readonly caCert: string;
  readonly caKey: string;
  /** The extensions to write into the certificate, one `name=value` a line. */
  readonly extfile: string;
  /** Where the certificate goes. */
  readonly out: string;
  /** As `openssl x509 -set_serial` takes it: decimal, or hex after `0x`. */
  readonly serial: string;
  readonly days: number;
}

/** Signs a certificate request with a CA's certificate and key (`openssl x509 -req`), in `dir`. */
export async function signRequest(dir: string, sign: SignRequest): Promise<void> {
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      sign.csr,
      '-CA',
      sign.caCert,
      '-CAkey',
      sign.caKey,
      '-set_serial',
      sign.serial,
      '-days',
      String(sign.days),
      '-extfile',
      sign.extfile,
      '-out',
      sign.out,
    ],
    dir,
  );
}

export interface LeafRequest extends Pick<SignRequest, 'caCert' | 'caKey' | 'serial' | 'days'> {
  /** The subject's CN. */
  readonly subject: string;
  /** subjectAltName entries: `IP:127.0.0.1`, `DNS:localhost`. */
  readonly altNames: readonly string[];
  /** Extensions besides the server-leaf ones, one `name=value` each. */
  readonly extensions?: readonly string[];
}

/**
 * Makes a key and a TLS server leaf for `request.altNames`, signed by the given CA, in `dir`
 * (leaf.key, leaf.csr, leaf.ext, leaf.pem; the caller removes the folder).
 */
export async function issueLeaf(
  dir: string,
  request: LeafRequest,
): Promise<{ readonly certPem: string; readonly keyPem: string }> {
  await openssl(
    ['req', ...EC_KEY, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${request.subject}`],
    dir,
  );
  await writeFile(
    join(dir, 'leaf.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${request.altNames.join(',')}`,
      ...(request.extensions ?? []),
      '',
    ].join('\n'),
  );
  const { caCert, caKey, serial, days } = request;
  await signRequest(dir, {
    csr: 'leaf.csr',
    caCert,
    caKey,
    extfile: 'leaf.ext',
    out: 'leaf.pem',
    serial,
    days,
  });
  const [certPem, keyPem] = await Promise.all([
    readFile(join(dir, 'leaf.pem'), 'utf8'),
    readFile(join(dir, 'leaf.key'), 'utf8'),
  ]);
  return { certPem, keyPem };
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
  const altNames = [...ips.map((ip) => `IP:${ip}`), ...names.map((n) => `DNS:${n}`)];
  const subject = ips[0] ?? names[0] ?? '';
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-tls-'));
  try {
    await openssl(
      [
        'req',
        '-x509',
        ...EC_KEY,
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
    const leaf = await issueLeaf(dir, {
      subject,
      altNames,
      caCert: 'ca.pem',
      caKey: 'ca.key',
      serial: '2',
      days: 7,
    });
    return { caPem: await readFile(join(dir, 'ca.pem'), 'utf8'), ...leaf };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
