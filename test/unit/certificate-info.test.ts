import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ariCertId,
  authorityKeyIdentifier,
  CertificateParseError,
  certificateInfo,
  chainProblem,
  decodeOid,
  keyMatchesCertificate,
  readDer,
  readTbsFields,
  splitPemChain,
} from '../../daemons/shared/certificate-info.ts';
import { openssl } from '../../scripts/lab/tls.ts';

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

describe('certificate-info', () => {
  let dir: string;
  let caPem: string;
  let caKeyId: Buffer;

  /** A leaf signed by the test CA, with the given serial (hex) and extensions. */
  async function leaf(
    name: string,
    serial: string,
    ext: readonly string[],
  ): Promise<{ pem: string; keyPem: string }> {
    await openssl(
      ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`],
      dir,
    );
    const extArgs: string[] = [];
    if (ext.length > 0) {
      await writeFile(join(dir, `${name}.ext`), `${ext.join('\n')}\n`);
      extArgs.push('-extfile', `${name}.ext`);
    }
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${serial}`,
        '-days',
        '3',
        ...extArgs,
        '-out',
        `${name}.pem`,
      ],
      dir,
    );
    return {
      pem: await readFile(join(dir, `${name}.pem`), 'utf8'),
      keyPem: await readFile(join(dir, `${name}.key`), 'utf8'),
    };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-certinfo-'));
    await openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '3',
        '-subj',
        '/C=US/O=Test Org/CN=Test Issuing CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ],
      dir,
    );
    caPem = await readFile(join(dir, 'ca.pem'), 'utf8');
    const ski = await openssl(['x509', '-in', 'ca.pem', '-noout', '-ext', 'subjectKeyIdentifier'], dir);
    const hex = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(ski)?.[1];
    if (hex === undefined) throw new Error(`no subjectKeyIdentifier in:\n${ski}`);
    caKeyId = Buffer.from(hex.replace(/:/g, ''), 'hex');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('ariCertId', () => {
    it('matches the example of RFC 9773 §4.1', () => {
      const keyId = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex');
      const serial = Buffer.from('0087654321', 'hex');
      expect(ariCertId(keyId, serial)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    });
  });

  describe('certificateInfo', () => {
    it('reads serial, validity, names, issuer and the ARI certID of a leaf with the high serial bit set', async () => {
      const { pem } = await leaf('high', '87654321', [
        'subjectAltName=DNS:a.test,DNS:www.a.test,IP:127.0.0.1',
        'authorityKeyIdentifier=keyid',
      ]);
      const info = certificateInfo(`${pem}${caPem}`);
      expect(info.serial).toBe('87654321');
      // DER keeps the 0x00 sign byte, and so does the certID (RFC 9773 §4.1).
      expect(info.ariCertId).toBe(`${caKeyId.toString('base64url')}.AIdlQyE`);
      expect(info.dnsNames).toEqual(['a.test', 'www.a.test']);
      expect(info.issuer).toBe('C=US, O=Test Org, CN=Test Issuing CA');
      expect(info.chainLength).toBe(2);
      const dates = await openssl(['x509', '-in', 'high.pem', '-noout', '-startdate', '-enddate'], dir);
      const notBefore = /notBefore=(.+)/.exec(dates)?.[1] ?? '';
      const notAfter = /notAfter=(.+)/.exec(dates)?.[1] ?? '';
      expect(info.notBefore.getTime()).toBe(new Date(notBefore).getTime());
      expect(info.notAfter.getTime()).toBe(new Date(notAfter).getTime());
      expect(info.notAfter.getTime() - info.notBefore.getTime()).toBe(3 * 86_400_000);
    });

    it.each([
      ['0123', '0123', 'ASM'],
      ['7f', '7f', 'fw'],
      ['80', '80', 'AIA'],
      ['00ff00', 'ff00', 'AP8A'],
    ])('writes serial 0x%s as %s and encodes it as %s in the certID', async (serial, hex, encoded) => {
      const { pem } = await leaf(`s${serial}`, serial, ['authorityKeyIdentifier=keyid']);
      const info = certificateInfo(pem);
      expect(info.serial).toBe(hex);
      expect(info.ariCertId?.split('.')[1]).toBe(encoded);
    });

    it('has no ARI certID when the certificate has no Authority Key Identifier', async () => {
      // Said outright: openssl 3.2 and later add an Authority Key Identifier by default.
      const { pem } = await leaf('noaki', '05', ['authorityKeyIdentifier=none']);
      const info = certificateInfo(pem);
      expect(info.ariCertId).toBeUndefined();
      expect(info.dnsNames).toEqual([]);
    });

    it.each([
      ['no PEM at all', 'hello'],
      ['a PEM block that is not DER', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
    ])('rejects %s with a CertificateParseError', (_what, text) => {
      expect(() => certificateInfo(text)).toThrow(CertificateParseError);
      expect(() => certificateInfo(text)).toThrow(
        expect.objectContaining({ code: 'WSFLEET_CERTIFICATE_INVALID' }),
      );
    });
  });

  describe('keyMatchesCertificate', () => {
    it('tells the leaf key from another key', async () => {
      const a = await leaf('keya', '0a', []);
      const b = await leaf('keyb', '0b', []);
      expect(keyMatchesCertificate(`${a.pem}${caPem}`, a.keyPem)).toBe(true);
      expect(keyMatchesCertificate(a.pem, b.keyPem)).toBe(false);
      expect(keyMatchesCertificate(a.pem, 'not a key')).toBe(false);
    });
  });

  describe('chainProblem', () => {
    it('accepts a chain in order and names the first link that is not', async () => {
      const { pem } = await leaf('chain', '0c', []);
      expect(chainProblem(`${pem}${caPem}`)).toBeUndefined();
      expect(chainProblem(`${caPem}${pem}`)).toMatch(
        /certificate 0 \(.*Test Issuing CA\) is not signed by certificate 1/,
      );
    });
  });

  describe('splitPemChain', () => {
    it('returns each certificate of a chain, leaf first', async () => {
      const { pem } = await leaf('split', '0d', []);
      const parts = splitPemChain(`${pem}\n${caPem}`);
      expect(parts).toHaveLength(2);
      expect(parts[1]?.trim()).toBe(caPem.trim());
    });
  });

  describe('DER walker', () => {
    it.each([
      ['2.5.29.35', '551d23'],
      ['2.5.29.17', '551d11'],
      ['1.2.840.113549.1.1.11', '2a864886f70d01010b'],
      ['1.3.6.1.4.1.11129.2.4.2', '2b06010401d679020402'],
    ])('decodes OID %s', (oid, hex) => {
      expect(decodeOid(Buffer.from(hex, 'hex'))).toBe(oid);
    });

    it('reads short and long definite lengths', () => {
      expect(readDer(Buffer.from('0403010203', 'hex')).value).toEqual(Buffer.from('010203', 'hex'));
      const long = Buffer.concat([Buffer.from('048181', 'hex'), Buffer.alloc(0x81, 7)]);
      const der = readDer(long);
      expect(der.value.length).toBe(0x81);
      expect(der.end).toBe(long.length);
    });

    it.each([
      ['a truncated value', '040501'],
      ['a truncated header', '04'],
      ['an indefinite length', '308000000000'],
      ['a non-minimal length', '04810101'],
      ['a length with a leading zero octet', '0482000101'],
      ['a high tag number', '1f0100'],
    ])('rejects %s', (_what, hex) => {
      expect(() => readDer(Buffer.from(hex, 'hex'))).toThrow(CertificateParseError);
    });

    it('reads the keyIdentifier of an AuthorityKeyIdentifier', () => {
      // SEQUENCE { [0] 0102 }
      expect(authorityKeyIdentifier(Buffer.from('300480020102', 'hex'))).toEqual(Buffer.from('0102', 'hex'));
      // SEQUENCE { [2] 05 } — only an issuer serial, no keyIdentifier
      expect(authorityKeyIdentifier(Buffer.from('3003820105', 'hex'))).toBeUndefined();
    });

    it('finds the serial and extensions of a v3 certificate', async () => {
      const { pem } = await leaf('tbs', '87654321', [
        'authorityKeyIdentifier=keyid',
        'subjectAltName=DNS:t.test',
      ]);
      const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const fields = readTbsFields(der);
      expect(Buffer.from(fields.serial).toString('hex')).toBe('0087654321');
      expect([...fields.extensions.keys()]).toEqual(expect.arrayContaining(['2.5.29.35', '2.5.29.17']));
    });
  });
});
