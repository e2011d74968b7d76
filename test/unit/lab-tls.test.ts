/** The lab's TLS authority: a leaf for exactly the addresses and names asked for, signed by its CA. */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTestTls } from '../../scripts/lab/tls.ts';

describe('createTestTls', () => {
  it('makes a leaf for 127.0.0.1 and localhost by default', async () => {
    const tls = await createTestTls();
    const leaf = new X509Certificate(tls.certPem);
    expect(leaf.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(leaf.verify(new X509Certificate(tls.caPem).publicKey)).toBe(true);
  });

  it('makes a leaf for the addresses and names asked for', async () => {
    const tls = await createTestTls({ ips: ['10.213.0.1'], names: ['pebble.lab.test'] });
    const leaf = new X509Certificate(tls.certPem);
    expect(leaf.subjectAltName).toBe('IP Address:10.213.0.1, DNS:pebble.lab.test');
    expect(leaf.checkIP('10.213.0.1')).toBe('10.213.0.1');
    expect(leaf.checkIP('127.0.0.1')).toBeUndefined();
    expect(leaf.checkPrivateKey(createPrivateKey(tls.keyPem))).toBe(true);
  });

  it.each([{ ips: ['10.213.0.1,DNS:evil.test'] }, { names: ['bad name'] }, { ips: [], names: [] }])(
    'refuses %j before running openssl',
    async (options) => {
      await expect(createTestTls(options)).rejects.toThrow(TypeError);
    },
  );
});
