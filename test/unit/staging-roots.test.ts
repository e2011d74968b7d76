/**
 * Let's Encrypt's staging roots as wsfleet ships them: exactly the four Let's Encrypt publishes
 * (fingerprints from letsencrypt.org/docs/staging-environment), trusted by cert-sync with
 * `--staging` only, from the file beside the code, the bundle and the image's /opt/wsfleet.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrustAnchors, STAGING_ROOTS_FILE } from '../../daemons/cert-sync/trust.ts';
import { validateBundle } from '../../daemons/cert-sync/validate.ts';
import { splitPemChain } from '../../daemons/shared/certificate-info.ts';
import { imagePaths } from '../../images/build/paths.ts';
import { stageSources } from '../../images/build/staging.ts';
import { ROOT } from '../../scripts/build.ts';
import { type CertFactory, createCertFactory } from '../helpers/certs.ts';

/** As Let's Encrypt publishes them (SHA-256 of the DER). */
const PUBLISHED: Record<string, string> = {
  '(STAGING) Pretend Pear X1':
    'E7:05:70:A9:89:F8:56:5A:AB:DF:7C:AE:27:AB:D1:62:18:72:D6:A3:F8:11:E3:FE:F2:7E:3D:BA:02:91:21:98',
  '(STAGING) Bogus Broccoli X2':
    '9B:2A:33:9F:E6:A3:E8:55:85:C4:CD:75:53:6C:B8:C1:CF:7C:D6:03:B9:A6:4B:EC:25:21:85:8A:E4:8D:A8:5D',
  '(STAGING) Yearning Yucca Root YE':
    'B5:9B:FC:0B:A5:2D:AF:84:98:53:B7:32:4A:91:E8:2F:03:1D:B3:39:7F:35:64:41:57:35:2C:DE:63:84:B5:6C',
  '(STAGING) Yonder Yam Root YR':
    'EF:11:5F:B5:9E:04:0F:F3:9D:15:FD:8F:3E:F5:40:63:C7:04:32:1D:83:CB:08:12:13:27:2F:77:D3:09:16:72',
};

const cn = (cert: X509Certificate) => /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? '';

describe("Let's Encrypt staging roots", () => {
  let text: string;
  let factory: CertFactory;
  let dir: string;

  beforeAll(async () => {
    text = await readFile(STAGING_ROOTS_FILE, 'utf8');
    factory = await createCertFactory();
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-staging-roots-'));
  });

  afterAll(async () => {
    await factory?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('ships exactly the four published roots, each self-signed, with the published fingerprints', () => {
    const certs = splitPemChain(text).map((pem) => new X509Certificate(pem));
    expect(Object.fromEntries(certs.map((c) => [cn(c), c.fingerprint256]))).toEqual(PUBLISHED);
    for (const cert of certs) {
      expect(cert.ca).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(true);
    }
  });

  it('names each root with its fingerprint in the comment above it', () => {
    const commented = [...text.matchAll(/^# SHA-256 ([0-9A-F:]+)\n-----BEGIN CERTIFICATE-----/gm)].map(
      (m) => m[1],
    );
    expect(commented).toEqual(Object.values(PUBLISHED));
  });

  it('is trusted with --staging only', async () => {
    const staged = new Set(
      (await loadTrustAnchors(undefined, { staging: true })).roots.map((r) => r.fingerprint256),
    );
    const plain = new Set((await loadTrustAnchors(undefined)).roots.map((r) => r.fingerprint256));
    for (const fingerprint of Object.values(PUBLISHED)) {
      expect(staged.has(fingerprint)).toBe(true);
      expect(plain.has(fingerprint)).toBe(false);
    }
  });

  it('accepts a staging chain with --staging and no --extra-roots, through the shipped file', async () => {
    // A stand-in root at the shipped file's place, as the lab's "as deployed" mode puts Pebble's.
    const root = await factory.root('(STAGING) Stand-in Root');
    const leaf = await factory.leaf(await factory.intermediate(root, '(STAGING) Stand-in R1'), ['a.test']);
    const file = join(dir, 'letsencrypt-staging-roots.pem');
    await writeFile(file, root.certPem);
    const options = { domains: ['a.test'], now: new Date() };
    const staged = await loadTrustAnchors(undefined, { staging: true, stagingRootsPath: file });
    expect(validateBundle(leaf, { ...options, anchors: staged, staging: true }).ok).toBe(true);
    const plain = await loadTrustAnchors(undefined, { stagingRootsPath: file });
    expect(validateBundle(leaf, { ...options, anchors: plain, staging: false })).toMatchObject({
      ok: false,
      reason: 'staging_root',
    });
  });

  it('refuses a missing staging roots file as a configuration error', async () => {
    await expect(
      loadTrustAnchors(undefined, { staging: true, stagingRootsPath: join(dir, 'missing.pem') }),
    ).rejects.toMatchObject({ code: 'WSFLEET_CONFIG_INVALID' });
  });

  it('goes beside the bundle in dist/ and into the image inputs', async () => {
    expect(await readFile(join(ROOT, 'dist', 'letsencrypt-staging-roots.pem'), 'utf8')).toBe(text);
    const paths = imagePaths(ROOT);
    const entries = await stageSources({
      paths,
      bundle: paths.bundle,
      nodeTarball: '/n',
      nodeTarballName: 'n.tgz',
    });
    // Staged from beside the bundle, where an installed package has them too (it has no daemons/).
    expect(entries).toContainEqual({
      name: 'letsencrypt-staging-roots.pem',
      path: join(ROOT, 'dist', 'letsencrypt-staging-roots.pem'),
    });
  });
});
