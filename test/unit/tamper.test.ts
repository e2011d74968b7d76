import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrustAnchors } from '../../daemons/cert-sync/trust.ts';
import { validateBundle } from '../../daemons/cert-sync/validate.ts';
import { certificateInfo, splitPemChain } from '../../daemons/shared/certificate-info.ts';
import { type Authority, type CertFactory, createCertFactory, type Leaf } from '../helpers/certs.ts';
import { withRandomSerial } from '../helpers/tamper.ts';

/** The corrupt certificate the VM scenario publishes must be what it claims to be. */
describe('withRandomSerial', () => {
  let factory: CertFactory;
  let root: Authority;
  let good: Leaf;

  beforeAll(async () => {
    factory = await createCertFactory();
    root = await factory.root('Tamper Root X1');
    good = await factory.leaf(await factory.intermediate(root, 'Tamper R1'), ['a.test']);
  });
  afterAll(async () => {
    await factory?.close();
  });

  it('gives a leaf that parses, keeps its names, dates and key, and has a serial of its own', () => {
    const corrupt = withRandomSerial(good.certificatePem);
    const before = certificateInfo(good.certificatePem);
    const after = certificateInfo(corrupt);
    expect(after.serial).not.toBe(before.serial);
    // Its first octet 0x01–0x7f: a positive INTEGER in DER's shortest form.
    expect(Number.parseInt(after.serial.slice(0, 2), 16)).toBeGreaterThanOrEqual(1);
    expect(Number.parseInt(after.serial.slice(0, 2), 16)).toBeLessThanOrEqual(0x7f);
    expect(after.dnsNames).toEqual(before.dnsNames);
    expect(after.notAfter).toEqual(before.notAfter);
    const [leaf, ...rest] = splitPemChain(corrupt);
    expect(rest).toEqual(splitPemChain(good.certificatePem).slice(1));
    expect(new X509Certificate(leaf ?? '').publicKey.export({ format: 'jwk' })).toEqual(
      new X509Certificate(splitPemChain(good.certificatePem)[0] ?? '').publicKey.export({ format: 'jwk' }),
    );
  });

  it('breaks the signature: cert-sync refuses it as an untrusted chain, naming its serial', () => {
    const corrupt = withRandomSerial(good.certificatePem);
    const result = validateBundle(
      { certificatePem: corrupt, privateKeyPem: good.privateKeyPem },
      { domains: ['a.test'], now: new Date(), anchors: createTrustAnchors([root.certPem]), staging: false },
    );
    expect(result).toMatchObject({
      ok: false,
      reason: 'untrusted_chain',
      serial: certificateInfo(corrupt).serial,
    });
  });

  it('gives a new serial each time', () => {
    const serials = new Set(
      Array.from({ length: 20 }, () => certificateInfo(withRandomSerial(good.certificatePem)).serial),
    );
    expect(serials.size).toBe(20);
  });
});
