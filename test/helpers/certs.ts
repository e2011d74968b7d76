/**
 * Certificates for cert-sync tests, made with the `openssl` CLI (node:crypto cannot build X.509):
 * roots (any CN, such as "(STAGING) Pretend Pear X1"), intermediates and leaves with chosen names
 * (DNS names, or IP addresses as IP entries)
 * and validity dates, and the store record of a leaf for `CertStore.publish`; and a fake Nginx
 * that serves what was under live/ at its last reload.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Nginx,
  type NginxCertificate,
  NginxError,
  type ServedCertificate,
} from '../../daemons/cert-sync/nginx.ts';
import { certificateInfo } from '../../daemons/shared/certificate-info.ts';
import type { CertificateVersion } from '../../daemons/shared/store/index.ts';
import { EC_KEY, openssl } from '../../scripts/lab/tls.ts';

const DAY = 86_400_000;

export interface Authority {
  readonly certPem: string;
  /** Certificates from this authority up to, not including, its root (empty for a root). */
  readonly chainPem: string;
  readonly id: string;
}

export interface Leaf {
  /** Leaf, then the intermediates: what fullchain.pem holds. */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface LeafOptions {
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Make the "leaf" a CA certificate that can sign others (a misissued leaf). */
  readonly ca?: boolean;
  /** Its extendedKeyUsage (default serverAuth). */
  readonly extendedKeyUsage?: string;
  /** Without subjectAltName: the first domain only as the subject's CN (default true: with). */
  readonly san?: boolean;
}

export interface CertFactory {
  root(cn: string, days?: number): Promise<Authority>;
  intermediate(parent: Authority, cn: string): Promise<Authority>;
  leaf(issuer: Authority, domains: readonly string[], options?: LeafOptions): Promise<Leaf>;
  close(): Promise<void>;
}

/** `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate` takes it. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

const CA_CONFIG = `[ ca ]
default_ca = ca_default
[ ca_default ]
database = index.txt
serial = serial.txt
new_certs_dir = .
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
[ policy_any ]
commonName = supplied
`;

const CA_EXT = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
];

export async function createCertFactory(): Promise<CertFactory> {
  const dir = await mkdtemp(join(tmpdir(), 'wsfleet-certs-'));
  await writeFile(join(dir, 'ca.cnf'), CA_CONFIG);
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial.txt'), '01\n');
  let n = 0;

  /** Signs `csr` with `issuer` (or itself with `selfSign`) for the given dates and extensions. */
  async function sign(
    id: string,
    issuer: string,
    ext: readonly string[],
    from: Date,
    to: Date,
    selfSign = false,
  ): Promise<string> {
    await writeFile(join(dir, `${id}.ext`), `${ext.join('\n')}\n`);
    await openssl(
      [
        'ca',
        '-batch',
        '-notext',
        '-rand_serial',
        '-config',
        'ca.cnf',
        ...(selfSign
          ? ['-selfsign', '-keyfile', `${id}.key`]
          : ['-cert', `${issuer}.pem`, '-keyfile', `${issuer}.key`]),
        '-in',
        `${id}.csr`,
        '-out',
        `${id}.pem`,
        '-startdate',
        asn1Time(from),
        '-enddate',
        asn1Time(to),
        '-extfile',
        `${id}.ext`,
      ],
      dir,
    );
    return readFile(join(dir, `${id}.pem`), 'utf8');
  }

  async function request(id: string, cn: string): Promise<void> {
    await openssl(
      ['req', '-new', ...EC_KEY, '-keyout', `${id}.key`, '-out', `${id}.csr`, '-subj', `/CN=${cn}`],
      dir,
    );
  }

  return {
    async root(cn, days = 30) {
      const id = `ca${n++}`;
      await request(id, cn);
      const now = Date.now();
      const certPem = await sign(id, id, CA_EXT, new Date(now - DAY), new Date(now + days * DAY), true);
      return { certPem, chainPem: '', id };
    },
    async intermediate(parent, cn) {
      const id = `ca${n++}`;
      await request(id, cn);
      const now = Date.now();
      const certPem = await sign(id, parent.id, CA_EXT, new Date(now - DAY), new Date(now + 20 * DAY));
      return { certPem, chainPem: `${certPem}${parent.chainPem}`, id };
    },
    async leaf(issuer, domains, options = {}) {
      const id = `leaf${n++}`;
      await request(id, domains[0] ?? 'leaf');
      const now = Date.now();
      const from = options.notBefore ?? new Date(now - 3_600_000);
      const to = options.notAfter ?? new Date(now + 7 * DAY);
      const leafPem = await sign(
        id,
        issuer.id,
        [
          `basicConstraints=critical,CA:${options.ca === true ? 'TRUE' : 'FALSE'}`,
          `keyUsage=critical,digitalSignature${options.ca === true ? ',keyCertSign' : ''}`,
          `extendedKeyUsage=${options.extendedKeyUsage ?? 'serverAuth'}`,
          'authorityKeyIdentifier=keyid',
          ...(options.san === false
            ? []
            : [`subjectAltName=${domains.map((d) => `${isIP(d) === 0 ? 'DNS' : 'IP'}:${d}`).join(',')}`]),
        ],
        from,
        to,
      );
      const certificatePem = `${leafPem}${issuer.chainPem}`;
      const info = certificateInfo(certificatePem);
      return {
        certificatePem,
        privateKeyPem: await readFile(join(dir, `${id}.key`), 'utf8'),
        serial: info.serial,
        notBefore: info.notBefore,
        notAfter: info.notAfter,
      };
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The store record of `leaf`, named after its first domain. */
export function certificateVersion(
  leaf: Leaf,
  domains: readonly string[],
  issuedAt: Date = new Date(),
): CertificateVersion {
  const info = certificateInfo(leaf.certificatePem);
  return {
    name: domains[0] as string,
    domains,
    certificatePem: leaf.certificatePem,
    privateKeyPem: leaf.privateKeyPem,
    serial: info.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    issuer: info.issuer,
    issuedAt: issuedAt.toISOString(),
    directoryUrl: 'https://ca.test/directory',
    ariCertId: info.ariCertId ?? 'a.b',
  };
}

// --- a fake nginx for cert-sync unit tests ---------------------------------------------------

export interface FakeNginx extends Nginx {
  /** Every call in order: render, test, reload, restore. */
  readonly calls: string[];
  /** The certificate lists rendered, in order. */
  readonly renders: (readonly NginxCertificate[])[];
  /** What a TLS client gets per SNI name: the files under live/ as of the last good reload. */
  readonly served: Map<string, ServedCertificate>;
  /** How many of the next test() / reload() calls fail. */
  failTests: number;
  failReloads: number;
  /** While true, a reload changes nothing that is served (workers stuck on the old certificate). */
  stale: boolean;
}

/** A stand-in for createNginx() that loads `<tlsDir>/live/<name>/fullchain.pem` on each reload. */
export function createFakeNginx(tlsDir: string): FakeNginx {
  let current: readonly NginxCertificate[] = [];
  const fake: FakeNginx = {
    calls: [],
    renders: [],
    served: new Map(),
    failTests: 0,
    failReloads: 0,
    stale: false,
    async render(certs) {
      fake.calls.push('render');
      fake.renders.push(certs);
      const previous = current;
      const changed = JSON.stringify(previous) !== JSON.stringify(certs);
      current = certs;
      return {
        changed,
        async restore() {
          fake.calls.push('restore');
          current = previous;
        },
      };
    },
    async test() {
      fake.calls.push('test');
      if (fake.failTests > 0) {
        fake.failTests--;
        throw new NginxError('WSFLEET_NGINX_TEST_FAILED', 'nginx configuration test failed', {
          output: 'nginx: [emerg] fake',
        });
      }
    },
    async reload() {
      fake.calls.push('reload');
      if (fake.failReloads > 0) {
        fake.failReloads--;
        throw new NginxError('WSFLEET_NGINX_RELOAD_FAILED', 'nginx reload failed');
      }
      if (fake.stale) return;
      // As nginx: the old workers serve until the new configuration is loaded whole.
      const next = new Map<string, ServedCertificate>();
      for (const cert of current) {
        const pem = await readFile(join(tlsDir, 'live', cert.name, 'fullchain.pem'), 'utf8');
        const info = certificateInfo(pem);
        next.set(cert.name, {
          serial: info.serial,
          notAfter: info.notAfter,
          fingerprint256: info.fingerprint256,
        });
      }
      fake.served.clear();
      for (const [name, served] of next) fake.served.set(name, served);
    },
    async servedCertificate({ servername }) {
      const served = fake.served.get(servername);
      if (served === undefined)
        throw new NginxError('WSFLEET_NGINX_SERVED_MISMATCH', `no certificate served for ${servername}`);
      return served;
    },
  };
  return fake;
}
