import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrustAnchors, loadTrustAnchors, type TrustAnchors } from '../../daemons/cert-sync/trust.ts';
import { type Bundle, covers, type RefusalReason, validateBundle } from '../../daemons/cert-sync/validate.ts';
import { splitPemChain } from '../../daemons/shared/certificate-info.ts';
import { type Authority, type CertFactory, createCertFactory, type Leaf } from '../helpers/certs.ts';

const DAY = 86_400_000;

describe('cert-sync validation', () => {
  let factory: CertFactory;
  let root: Authority;
  let intermediate: Authority;
  let good: Leaf;
  let other: Leaf;
  let expired: Leaf;
  let future: Leaf;
  let stranger: Leaf;
  let staging: Leaf;
  let clientOnly: Leaf;
  let caLeaf: Leaf;
  let anchors: TrustAnchors;
  let stagingRoot: Authority;
  let dir: string;

  beforeAll(async () => {
    factory = await createCertFactory();
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-validate-'));
    root = await factory.root('Test Root X1');
    intermediate = await factory.intermediate(root, 'Test R1');
    good = await factory.leaf(intermediate, ['a.test', 'www.a.test']);
    other = await factory.leaf(intermediate, ['a.test']);
    expired = await factory.leaf(intermediate, ['a.test'], {
      notBefore: new Date(Date.now() - 10 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    future = await factory.leaf(intermediate, ['a.test'], {
      notBefore: new Date(Date.now() + DAY),
      notAfter: new Date(Date.now() + 10 * DAY),
    });
    const unknownRoot = await factory.root('Unknown Root');
    stranger = await factory.leaf(await factory.intermediate(unknownRoot, 'Unknown R1'), ['a.test']);
    stagingRoot = await factory.root('(STAGING) Pretend Pear X1');
    staging = await factory.leaf(
      await factory.intermediate(stagingRoot, '(STAGING) Counterfeit Cashew R10'),
      ['a.test'],
    );
    clientOnly = await factory.leaf(intermediate, ['a.test'], { extendedKeyUsage: 'clientAuth' });
    caLeaf = await factory.leaf(intermediate, ['a.test'], { ca: true });
    // The staging root is listed as trusted, as --extra-roots would: still refused without --staging.
    anchors = createTrustAnchors([root.certPem, stagingRoot.certPem]);
  });

  afterAll(async () => {
    await factory?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const options = (extra: { domains?: string[]; staging?: boolean; now?: Date } = {}) => ({
    domains: extra.domains ?? ['a.test', 'www.a.test'],
    now: extra.now ?? new Date(),
    anchors,
    staging: extra.staging ?? false,
  });

  it('accepts a chain to a trusted root whose leaf covers every name and matches its key', () => {
    const result = validateBundle(good, options());
    expect(result).toMatchObject({
      ok: true,
      info: { serial: good.serial, dnsNames: ['a.test', 'www.a.test'] },
    });
  });

  it('accepts a chain that includes the root itself', () => {
    const bundle = { ...good, certificatePem: good.certificatePem + root.certPem };
    expect(validateBundle(bundle, options()).ok).toBe(true);
  });

  it('accepts a staging chain with --staging when the staging root is trusted', () => {
    expect(validateBundle(staging, options({ domains: ['a.test'], staging: true })).ok).toBe(true);
  });

  const cases: [string, () => Bundle, RefusalReason, { domains?: string[]; staging?: boolean }?][] = [
    ['garbage instead of a chain', () => ({ ...good, certificatePem: 'hello, not a certificate' }), 'parse'],
    ['garbage inside a PEM block', () => ({ ...good, certificatePem: pemOf('bm90IERFUg==') }), 'parse'],
    [
      'a chain truncated in its second certificate',
      () => ({ ...good, certificatePem: good.certificatePem.slice(0, good.certificatePem.length - 200) }),
      'parse',
    ],
    [
      'a chain truncated in the leaf',
      () => ({ ...good, certificatePem: good.certificatePem.slice(0, 300) }),
      'parse',
    ],
    ['a private key that is garbage', () => ({ ...good, privateKeyPem: 'not a key' }), 'parse'],
    ["another certificate's key", () => ({ ...good, privateKeyPem: other.privateKeyPem }), 'key_mismatch'],
    ['a leaf that does not name every configured domain', () => other, 'names'],
    ['an expired leaf', () => expired, 'expired', { domains: ['a.test'] }],
    ['a leaf that is not valid yet', () => future, 'not_yet_valid', { domains: ['a.test'] }],
    ['a chain to an unknown root', () => stranger, 'untrusted_chain', { domains: ['a.test'] }],
    ['a leaf without its intermediate', () => ({ ...good, certificatePem: leafOf(good) }), 'untrusted_chain'],
    [
      'a chain out of order',
      () => ({ ...good, certificatePem: leafOf(good) + root.certPem + intermediate.certPem }),
      'untrusted_chain',
    ],
    ['a staging chain in production mode', () => staging, 'staging_root', { domains: ['a.test'] }],
    ['a leaf for client authentication only', () => clientOnly, 'usage', { domains: ['a.test'] }],
    ['a leaf that is a CA certificate', () => caLeaf, 'usage', { domains: ['a.test'] }],
  ];

  it.each(cases)('refuses %s', (_what, bundle, reason, extra) => {
    const result = validateBundle(bundle(), options(extra));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toBe(reason);
    expect(result.detail).not.toBe('');
    if (reason !== 'parse') expect(result.serial).toMatch(/^[0-9a-f]+$/);
  });

  it('refuses a staging chain with --staging when no trusted root issued it', () => {
    const result = validateBundle(staging, {
      ...options({ domains: ['a.test'], staging: true }),
      anchors: createTrustAnchors([root.certPem]),
    });
    expect(result).toMatchObject({ ok: false, reason: 'untrusted_chain' });
  });

  it('names the staging root it refused', () => {
    const result = validateBundle(staging, options({ domains: ['a.test'] }));
    expect(result).toMatchObject({ ok: false, detail: expect.stringContaining('(STAGING)') });
  });

  it.each([
    ['a.test', 'a.test', true],
    ['A.Test', 'a.test', true],
    ['*.a.test', 'www.a.test', true],
    ['*.a.test', 'a.test', false],
    ['*.a.test', 'x.www.a.test', false],
    ['b.test', 'a.test', false],
  ])('a SAN of %s covers %s: %s', (san, domain, expected) => {
    expect(covers(san, domain)).toBe(expected);
  });

  describe('loadTrustAnchors', () => {
    it("adds --extra-roots to the system's roots", async () => {
      const file = join(dir, 'extra.pem');
      await writeFile(file, root.certPem);
      const loaded = await loadTrustAnchors(file);
      expect(loaded.roots.length).toBeGreaterThan(100);
      expect(validateBundle(good, { ...options(), anchors: loaded }).ok).toBe(true);
      expect(
        validateBundle(good, { ...options(), anchors: await loadTrustAnchors(undefined) }),
      ).toMatchObject({
        reason: 'untrusted_chain',
      });
    });

    it.each([
      ['a missing file', 'missing.pem', undefined],
      ['a file without certificates', 'empty.pem', 'nothing here\n'],
      ['a file whose certificate does not parse', 'bad.pem', pemOf('bm90IERFUg==')],
    ])('refuses %s as a configuration error', async (_what, name, text) => {
      const file = join(dir, name);
      if (text !== undefined) await writeFile(file, text);
      await expect(loadTrustAnchors(file)).rejects.toMatchObject({ code: 'WSFLEET_CONFIG_INVALID' });
    });
  });
});

function leafOf(leaf: Leaf): string {
  return `${splitPemChain(leaf.certificatePem)[0]}\n`;
}

function pemOf(base64: string): string {
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}
