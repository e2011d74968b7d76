/**
 * The store contract (daemons/shared/store/object-store.ts and cert-store.ts), run over every
 * backend: the file store in a temporary folder, and the GCS store through the real
 * @google-cloud/storage client against the GCS double (small list pages and a low resumable
 * threshold, so paging and chunked uploads are exercised too).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateVersion, CertStore, RenewerState } from '../../daemons/shared/store/cert-store.ts';
import { createCertStore } from '../../daemons/shared/store/cert-store-impl.ts';
import { createFileStore } from '../../daemons/shared/store/file-store.ts';
import { createGcsStore } from '../../daemons/shared/store/gcs-store.ts';
import type { ObjectStore } from '../../daemons/shared/store/object-store.ts';
import { type GcsDouble, startGcsDouble } from '../../scripts/lab/gcs-double/server.ts';

interface Backend {
  readonly name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A new, empty store. */
  create(): ObjectStore;
}

function fileBackend(): Backend {
  let base: string | undefined;
  let stores = 0;
  return {
    name: 'file',
    async setup() {
      base = await mkdtemp(join(tmpdir(), 'wsfleet-store-'));
    },
    async teardown() {
      if (base !== undefined) await rm(base, { recursive: true, force: true });
    },
    create() {
      if (base === undefined) throw new Error('setup has not run');
      return createFileStore(join(base, `store-${++stores}`));
    },
  };
}

/** Objects per list page in the GCS backend: small, so a listing takes several pages. */
const PAGE = 7;
const CHUNK = 256 * 1024;

function gcsBackend(): Backend {
  let double: GcsDouble | undefined;
  let stores = 0;
  return {
    name: 'gcs',
    async setup() {
      double = await startGcsDouble();
    },
    async teardown() {
      await double?.stop();
    },
    create() {
      if (double === undefined) throw new Error('setup has not run');
      return createGcsStore({
        bucket: 'wsfleet-test',
        prefix: `store-${++stores}`,
        apiEndpoint: double.apiEndpoint,
        pageSize: PAGE,
        resumableThreshold: CHUNK + 1,
        chunkSize: CHUNK,
        retry: { maxRetries: 2, maxDelayMs: 1_000 },
        deadlineMs: 15_000,
      });
    },
  };
}

const DIRECTORY = 'https://acme.test/directory';
const CERT_PEM = '-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n';
const KEY_PEM = '-----BEGIN PRIVATE KEY-----\nMIGHdGVzdA==\n-----END PRIVATE KEY-----\n';
const DAY_MS = 86_400_000;

function certificate(name: string, serial: string, issuedAt: string): CertificateVersion {
  return {
    name,
    domains: [name, `www.${name}`],
    certificatePem: CERT_PEM + CERT_PEM,
    privateKeyPem: KEY_PEM,
    serial,
    notBefore: issuedAt,
    notAfter: new Date(Date.parse(issuedAt) + 90 * DAY_MS).toISOString(),
    issuer: 'CN=Test Intermediate',
    issuedAt,
    directoryUrl: DIRECTORY,
    ariCertId: 'aGVsbG8.AQID',
  };
}

const account = (accountUrl: string) => ({
  directoryUrl: DIRECTORY,
  accountKeyPem: KEY_PEM,
  accountUrl,
  email: 'ops@example.com',
  createdAt: '2030-01-01T00:00:00.000Z',
});

const byte = (n: number, size: number) => Buffer.alloc(size, n);
const precondition = { code: 'WSFLEET_STORE_PRECONDITION' };

describe.each([fileBackend(), gcsBackend()])('$name store', (backend) => {
  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());

  describe('ObjectStore', () => {
    it('creates a key only once with ifGenerationMatch 0', async () => {
      const store = backend.create();
      const first = await store.put('a/key', Buffer.from('first'), { ifGenerationMatch: '0' });

      await expect(
        store.put('a/key', Buffer.from('second'), { ifGenerationMatch: '0' }),
      ).rejects.toMatchObject({
        ...precondition,
        key: 'a/key',
      });
      expect((await store.get('a/key'))?.data.toString()).toBe('first');
      expect(first).toMatchObject({
        key: 'a/key',
        size: 5,
        generation: expect.stringMatching(/^[1-9][0-9]*$/),
      });
    });

    it('replaces a key only while it still has the expected generation', async () => {
      const store = backend.create();
      const first = await store.put('k', Buffer.from('one'));
      const second = await store.put('k', Buffer.from('two'), { ifGenerationMatch: first.generation });

      await expect(
        store.put('k', Buffer.from('three'), { ifGenerationMatch: first.generation }),
      ).rejects.toMatchObject(precondition);
      expect(second.generation).not.toBe(first.generation);
      expect(await store.get('k')).toMatchObject({ generation: second.generation, data: Buffer.from('two') });
    });

    it('refuses a generation for a key that does not exist, writing nothing', async () => {
      const store = backend.create();
      await expect(store.put('k', Buffer.from('x'), { ifGenerationMatch: '12345' })).rejects.toMatchObject(
        precondition,
      );
      expect(await store.stat('k')).toBeUndefined();
    });

    it('never gives a key the same generation twice, also across delete and re-create', async () => {
      const store = backend.create();
      const generations: string[] = [];
      for (let round = 0; round < 3; round++) {
        generations.push((await store.put('k', Buffer.from(`a${round}`))).generation);
        generations.push((await store.put('k', Buffer.from(`b${round}`))).generation);
        expect(await store.delete('k')).toBe(true);
      }
      expect(new Set(generations).size).toBe(generations.length);
    });

    it('deletes only at the expected generation, and a missing key resolves false', async () => {
      const store = backend.create();
      const first = await store.put('k', Buffer.from('one'));
      const second = await store.put('k', Buffer.from('two'));

      await expect(store.delete('k', { ifGenerationMatch: first.generation })).rejects.toMatchObject(
        precondition,
      );
      expect((await store.stat('k'))?.generation).toBe(second.generation);
      expect(await store.delete('k', { ifGenerationMatch: second.generation })).toBe(true);
      expect(await store.delete('k', { ifGenerationMatch: second.generation })).toBe(false);
      expect(await store.delete('k')).toBe(false);
    });

    it('resolves undefined for get and stat of a missing key', async () => {
      const store = backend.create();
      expect(await store.get('no/such/key')).toBeUndefined();
      expect(await store.stat('no/such/key')).toBeUndefined();
      expect(await store.list('no/such/')).toEqual([]);
    });

    it('reads back exactly the bytes written, with the metadata stat reports', async () => {
      const store = backend.create();
      const data = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
      const written = await store.put('bin/all-bytes', data, { contentType: 'application/octet-stream' });
      const read = await store.get('bin/all-bytes');

      expect(read?.data.equals(data)).toBe(true);
      expect(await store.stat('bin/all-bytes')).toEqual(written);
      expect(read).toMatchObject(written);
      expect(Number.isNaN(Date.parse(written.updated))).toBe(false);
    });

    it('stores an object larger than one upload chunk whole', async () => {
      const store = backend.create();
      const data = Buffer.concat([byte(1, CHUNK), byte(2, CHUNK), byte(3, 1234)]);
      const written = await store.put('big', data, { ifGenerationMatch: '0' });
      expect(written.size).toBe(data.length);
      expect((await store.get('big'))?.data.equals(data)).toBe(true);
    });

    it('lists every key under a prefix, over several pages, sorted by the bytes of the key', async () => {
      const store = backend.create();
      const keys = Array.from({ length: 3 * PAGE + 2 }, (_, i) => `many/${String(i).padStart(2, '0')}`);
      for (const key of [...keys].reverse()) await store.put(key, Buffer.from(key));
      await store.put('many-not/x', Buffer.from('x'));
      await store.put('other/y', Buffer.from('y'));

      expect((await store.list('many/')).map((m) => m.key)).toEqual(keys);
      expect((await store.list('many/1')).map((m) => m.key)).toEqual(
        keys.filter((k) => k.startsWith('many/1')),
      );
      expect((await store.list('')).map((m) => m.key)).toEqual(['many-not/x', ...keys, 'other/y']);
      const listed = (await store.list('many/0'))[0];
      expect(listed).toEqual(await store.stat('many/00'));
    });

    it('lets exactly one of several concurrent creates win', async () => {
      const store = backend.create();
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) =>
          store.put('race', Buffer.from(`w${i}`), { ifGenerationMatch: '0' }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      for (const r of lost) expect(r.reason).toMatchObject(precondition);
    });

    it('shows readers either the whole old object or the whole new one', async () => {
      const store = backend.create();
      const size = 100_000;
      let current = await store.put('swap', byte(0, size));
      const seen: string[] = [];
      const writer = (async () => {
        for (let n = 1; n <= 10; n++)
          current = await store.put('swap', byte(n, size), { ifGenerationMatch: current.generation });
      })();
      const readers = Array.from({ length: 2 }, async () => {
        for (let i = 0; i < 15; i++) {
          const read = await store.get('swap');
          const first = read?.data[0];
          expect(read?.data.length).toBe(size);
          expect(read?.data.every((b) => b === first)).toBe(true);
          seen.push(read?.generation ?? '');
        }
      });
      await Promise.all([writer, ...readers]);
      expect(seen.length).toBe(30);
    });

    it.each([
      { key: '../escape' },
      { key: 'a/../b' },
      { key: '/absolute' },
      { key: 'nul\u0000byte' },
      { key: 'a//b' },
      { key: 'trailing/' },
      { key: '' },
      { key: '.hidden' },
      { key: `${'x'.repeat(256)}/y` },
    ])('refuses the key $key with WSFLEET_STORE_INVALID', async ({ key }) => {
      const store = backend.create();
      const invalid = { code: 'WSFLEET_STORE_INVALID' };
      await expect(store.put(key, Buffer.from('x'))).rejects.toMatchObject(invalid);
      await expect(store.get(key)).rejects.toMatchObject(invalid);
      await expect(store.delete(key)).rejects.toMatchObject(invalid);
    });
  });

  describe('CertStore', () => {
    let nowMs = Date.parse('2030-06-01T00:00:00.000Z');
    const open = (): { certs: CertStore; objects: ObjectStore } => {
      const objects = backend.create();
      return { objects, certs: createCertStore(objects, { now: () => new Date(nowMs) }) };
    };

    it('publishes a version and points current at it', async () => {
      const { certs } = open();
      const cert = certificate('example.com', '0a1b2c', '2030-01-01T00:00:00.000Z');
      const published = await certs.publish(cert, undefined);

      expect(published.version).toBe('certs/example.com/versions/20300101T000000000Z-0a1b2c.json');
      expect(await certs.current('example.com')).toEqual(published);
      expect(published.certificate).toEqual(cert);
      expect(await certs.currentGeneration('example.com')).toBe(published.generation);
      expect(await certs.current('other.example')).toBeUndefined();
      expect(await certs.currentGeneration('other.example')).toBeUndefined();
    });

    it('swings current only from the generation the publisher expects', async () => {
      const { certs } = open();
      const first = await certs.publish(
        certificate('example.com', '01', '2030-01-01T00:00:00.000Z'),
        undefined,
      );
      const second = await certs.publish(
        certificate('example.com', '02', '2030-02-01T00:00:00.000Z'),
        first.generation,
      );

      await expect(
        certs.publish(certificate('example.com', '03', '2030-03-01T00:00:00.000Z'), first.generation),
      ).rejects.toMatchObject({ ...precondition, key: 'certs/example.com/current' });
      await expect(
        certs.publish(certificate('example.com', '04', '2030-03-02T00:00:00.000Z'), undefined),
      ).rejects.toMatchObject(precondition);
      expect(await certs.current('example.com')).toEqual(second);
    });

    it('lets exactly one of two racing publishers swing current', async () => {
      const { certs } = open();
      const base = await certs.publish(
        certificate('example.com', '01', '2030-01-01T00:00:00.000Z'),
        undefined,
      );
      const results = await Promise.allSettled([
        certs.publish(certificate('example.com', 'aa', '2030-02-01T00:00:00.000Z'), base.generation),
        certs.publish(certificate('example.com', 'bb', '2030-02-01T00:00:01.000Z'), base.generation),
      ]);
      const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));

      expect(won).toHaveLength(1);
      expect(lost).toEqual([expect.objectContaining(precondition)]);
      expect((await certs.current('example.com'))?.certificate.serial).toBe(won[0]?.certificate.serial);
    });

    it('lists the versions issued since a time, oldest first, including ones that lost the swing', async () => {
      const { certs } = open();
      const one = await certs.publish(
        certificate('example.com', '01', '2030-01-01T00:00:00.000Z'),
        undefined,
      );
      const two = await certs.publish(
        certificate('example.com', '02', '2030-01-10T00:00:00.000Z'),
        one.generation,
      );
      await expect(
        certs.publish(certificate('example.com', '03', '2030-01-20T00:00:00.000Z'), one.generation),
      ).rejects.toMatchObject(precondition);
      await certs.publish(certificate('example.com', '04', '2030-01-30T00:00:00.000Z'), two.generation);

      const since = await certs.versionsSince('example.com', '2030-01-10T00:00:00.000Z');
      expect(since.map((v) => [v.issuedAt, v.serial])).toEqual([
        ['2030-01-10T00:00:00.000Z', '02'],
        ['2030-01-20T00:00:00.000Z', '03'],
        ['2030-01-30T00:00:00.000Z', '04'],
      ]);
      expect(since[0]?.version).toBe(two.version);
      expect(await certs.versionsSince('example.com', '2031-01-01T00:00:00.000Z')).toEqual([]);
      expect(await certs.versionsSince('never.example', '2000-01-01T00:00:00.000Z')).toEqual([]);
    });

    it('prunes all but the newest versions, never the current one', async () => {
      const { certs } = open();
      let generation: string | undefined;
      for (const [i, day] of ['01', '02', '03', '04', '05'].entries()) {
        generation = (
          await certs.publish(
            certificate('example.com', `0${i + 1}`, `2030-01-${day}T00:00:00.000Z`),
            generation,
          )
        ).generation;
      }
      // A newer version that lost its swing: the current one is 05, not the newest.
      await expect(
        certs.publish(certificate('example.com', '06', '2030-01-06T00:00:00.000Z'), '1'),
      ).rejects.toMatchObject(precondition);
      const deleted = await certs.pruneVersions('example.com', 1);
      expect(deleted).toHaveLength(4);
      const left = await certs.versionsSince('example.com', '2000-01-01T00:00:00.000Z');
      expect(left.map((v) => v.serial)).toEqual(['05', '06']);
      expect((await certs.current('example.com'))?.certificate.serial).toBe('05');
      expect(await certs.pruneVersions('example.com', 3)).toEqual([]);
    });

    it('names exactly the certificates that have a current pointer', async () => {
      const { certs, objects } = open();
      expect(await certs.names()).toEqual([]);
      await certs.publish(certificate('b.example', '01', '2030-01-01T00:00:00.000Z'), undefined);
      await certs.publish(certificate('a.example', '01', '2030-01-01T00:00:00.000Z'), undefined);
      await certs.saveState('c.example', { failures: 1 });
      await objects.put('certs/d.example/versions/20300101T000000000Z-01.json', Buffer.from('{}'));
      expect(await certs.names()).toEqual(['a.example', 'b.example']);
    });

    it('keeps the first account saved for a directory', async () => {
      const { certs } = open();
      const first = account('https://acme.test/acct/1');
      expect(await certs.account(DIRECTORY)).toBeUndefined();
      expect(await certs.saveAccount(first)).toEqual(first);
      expect(await certs.saveAccount(account('https://acme.test/acct/2'))).toEqual(first);
      expect(await certs.account(DIRECTORY)).toEqual(first);
      expect(await certs.account('https://other.test/directory')).toBeUndefined();
    });

    it('round-trips the renewer state, the last save winning', async () => {
      const { certs } = open();
      const failed: RenewerState = {
        lastAttemptAt: '2030-01-01T00:00:00.000Z',
        lastError: { code: 'WSFLEET_ACME', message: 'rate limited', at: '2030-01-01T00:00:01.000Z' },
        failures: 2,
        nextAttemptAt: '2030-01-01T01:00:00.000Z',
        finalizedAt: ['2029-12-30T00:00:00.000Z', '2030-01-01T00:00:00.500Z'],
      };
      const succeeded: RenewerState = {
        lastAttemptAt: '2030-01-02T00:00:00.000Z',
        lastSuccessAt: '2030-01-02T00:00:05.000Z',
        failures: 0,
        finalizedAt: ['2030-01-02T00:00:01.000Z'],
      };
      expect(await certs.state('example.com')).toBeUndefined();
      await certs.saveState('example.com', failed);
      expect(await certs.state('example.com')).toEqual(failed);
      await certs.saveState('example.com', succeeded);
      expect(await certs.state('example.com')).toEqual(succeeded);
      expect(await certs.state('other.example')).toBeUndefined();
    });

    it('gives the lease to exactly one of two concurrent lockers', async () => {
      const { certs } = open();
      const leases = await Promise.all([
        certs.lock('example.com', 'a', 60_000),
        certs.lock('example.com', 'b', 60_000),
      ]);
      const held = leases.filter((l) => l !== undefined);
      expect(held).toHaveLength(1);
      await held[0]?.release();
    });

    it('takes over an expired lease, after which the old holder can neither renew nor release it', async () => {
      const { certs } = open();
      const a = await certs.lock('example.com', 'a', 1_000);
      expect(a?.owner).toBe('a');
      expect(await certs.lock('example.com', 'b', 1_000)).toBeUndefined();

      nowMs += 1_001;
      const b = await certs.lock('example.com', 'b', 1_000);
      expect(b?.owner).toBe('b');
      await expect(a?.renew()).rejects.toMatchObject({ ...precondition, key: 'locks/example.com' });
      await a?.release();
      expect(await certs.lock('example.com', 'c', 1_000)).toBeUndefined();
      await b?.release();
    });

    it('never gives a live lease to an owner of the same name', async () => {
      const { certs } = open();
      const a = await certs.lock('example.com', 'host:1', 1_000);
      expect(a?.owner).toBe('host:1');
      expect(await certs.lock('example.com', 'host:1', 1_000)).toBeUndefined();
      await a?.release();
    });

    it('keeps a lease through renewals that overlap', async () => {
      const { certs } = open();
      const a = await certs.lock('example.com', 'a', 1_000);
      await Promise.all([a?.renew(), a?.renew(), a?.renew()]);
      nowMs += 800;
      await a?.renew();
      expect(await certs.lock('example.com', 'b', 1_000)).toBeUndefined();
      await a?.release();
    });

    it('extends a lease on renew, and frees it on release (twice is fine)', async () => {
      const { certs } = open();
      const a = await certs.lock('example.com', 'a', 1_000);
      nowMs += 800;
      await a?.renew();
      nowMs += 800;
      expect(await certs.lock('example.com', 'b', 1_000)).toBeUndefined();

      await a?.release();
      await a?.release();
      const b = await certs.lock('example.com', 'b', 1_000);
      expect(b?.owner).toBe('b');
      await expect(a?.renew()).rejects.toMatchObject(precondition);
      await b?.release();
    });

    it.each([
      { name: '../etc' },
      { name: 'Example.COM' },
      { name: 'a/b' },
      { name: '' },
      { name: '.hidden' },
    ])('refuses the certificate name "$name" with WSFLEET_STORE_INVALID', async ({ name }) => {
      const { certs } = open();
      const invalid = { code: 'WSFLEET_STORE_INVALID' };
      await expect(certs.current(name)).rejects.toMatchObject(invalid);
      await expect(certs.lock(name, 'a', 1_000)).rejects.toMatchObject(invalid);
      await expect(certs.saveState(name, { failures: 0 })).rejects.toMatchObject(invalid);
    });

    it('shares HTTP-01 answers by token until they are removed', async () => {
      const { certs, objects } = open();
      expect(await certs.challenge('tok_EN-1')).toBeUndefined();
      await certs.putChallenge('tok_EN-1', 'tok_EN-1.thumb-print_0');
      expect(await certs.challenge('tok_EN-1')).toBe('tok_EN-1.thumb-print_0');
      expect((await objects.get('challenges/tok_EN-1'))?.data.toString()).toBe('tok_EN-1.thumb-print_0');
      await certs.removeChallenge('tok_EN-1');
      await certs.removeChallenge('tok_EN-1');
      expect(await certs.challenge('tok_EN-1')).toBeUndefined();
    });

    it('refuses a token that is not base64url or an answer with other characters, writing nothing', async () => {
      const { certs, objects } = open();
      for (const [token, answer] of [
        ['../locks/x', 'a.b'],
        ['tok', 'a b'],
        ['tok', ''],
      ] as const) {
        await expect(certs.putChallenge(token, answer)).rejects.toMatchObject({
          code: 'WSFLEET_STORE_INVALID',
        });
      }
      expect(await objects.list('')).toEqual([]);
      // Asked for a token that cannot be one, it answers nothing without a request.
      expect(await certs.challenge('../locks/x')).toBeUndefined();
    });

    it('refuses to publish a certificate whose fields are not valid, writing nothing', async () => {
      const { certs, objects } = open();
      const cert = { ...certificate('example.com', '01', '2030-01-01T00:00:00.000Z'), notAfter: 'soon' };
      await expect(certs.publish(cert, undefined)).rejects.toMatchObject({ code: 'WSFLEET_STORE_INVALID' });
      expect(await objects.list('')).toEqual([]);
    });
  });

  describe('corrupt and foreign objects', () => {
    const garbage = Buffer.from('not json at all');
    const foreign = Buffer.from('{"kind":"something-else","value":1}\n');

    async function seeded() {
      const objects = backend.create();
      const certs = createCertStore(objects);
      const published = await certs.publish(
        certificate('example.com', '01', '2030-01-01T00:00:00.000Z'),
        undefined,
      );
      return { objects, certs, published };
    }

    it.each([
      { what: 'garbage', bytes: garbage },
      { what: 'a foreign JSON object', bytes: foreign },
    ])(
      'reports $what as current as WSFLEET_STORE_CORRUPT naming the key and the store',
      async ({ bytes }) => {
        const { objects, certs } = await seeded();
        await objects.put('certs/example.com/current', bytes);
        const err = await certs.current('example.com').catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'WSFLEET_STORE_CORRUPT', key: 'certs/example.com/current' });
        expect((err as Error).message).toContain(objects.url);
      },
    );

    it('reports a current pointer to a missing or mismatched version as WSFLEET_STORE_CORRUPT', async () => {
      const { objects, certs, published } = await seeded();
      await objects.delete(published.version);
      await expect(certs.current('example.com')).rejects.toMatchObject({
        code: 'WSFLEET_STORE_CORRUPT',
        key: 'certs/example.com/current',
      });
      const other = await seeded();
      const stray = certificate('other.example', '01', '2030-01-01T00:00:00.000Z');
      await other.objects.put(
        other.published.version,
        Buffer.from(JSON.stringify({ format: 'wsfleet.cert-version/1', ...stray })),
      );
      await expect(other.certs.current('example.com')).rejects.toMatchObject({
        code: 'WSFLEET_STORE_CORRUPT',
        key: other.published.version,
      });
    });

    it('never overwrites a corrupt state, account or lock', async () => {
      const { objects, certs } = await seeded();
      const keys = ['state/example.com.json', `accounts/${'0'.repeat(64)}.json`, 'locks/example.com'];
      for (const key of keys) await objects.put(key, garbage);
      const accountKey = (await objects.list('accounts/'))[0]?.key;
      expect(accountKey).toBeDefined();

      const corrupt = { code: 'WSFLEET_STORE_CORRUPT' };
      await expect(certs.saveState('example.com', { failures: 0 })).rejects.toMatchObject({
        ...corrupt,
        key: 'state/example.com.json',
      });
      await expect(certs.state('example.com')).rejects.toMatchObject(corrupt);
      await expect(certs.lock('example.com', 'a', 1_000)).rejects.toMatchObject({
        ...corrupt,
        key: 'locks/example.com',
      });
      for (const key of keys) expect((await objects.get(key))?.data.equals(garbage)).toBe(true);
    });

    it('reports a stored answer that is not one as WSFLEET_STORE_CORRUPT', async () => {
      const { objects, certs } = await seeded();
      await objects.put('challenges/tok', Buffer.from('<html>not an answer</html>'));
      await expect(certs.challenge('tok')).rejects.toMatchObject({
        code: 'WSFLEET_STORE_CORRUPT',
        key: 'challenges/tok',
      });
    });

    it('never overwrites a corrupt account of the same directory', async () => {
      const { objects, certs } = await seeded();
      await certs.saveAccount(account('https://acme.test/acct/1'));
      const key = (await objects.list('accounts/'))[0]?.key ?? '';
      await objects.put(key, foreign);
      await expect(certs.saveAccount(account('https://acme.test/acct/2'))).rejects.toMatchObject({
        code: 'WSFLEET_STORE_CORRUPT',
        key,
      });
      await expect(certs.account(DIRECTORY)).rejects.toMatchObject({ code: 'WSFLEET_STORE_CORRUPT', key });
      expect((await objects.get(key))?.data.equals(foreign)).toBe(true);
    });

    it('reports a foreign object among the versions as WSFLEET_STORE_CORRUPT', async () => {
      const { objects, certs } = await seeded();
      await objects.put('certs/example.com/versions/notes.txt', Buffer.from('hello'));
      await expect(certs.versionsSince('example.com', '2000-01-01T00:00:00.000Z')).rejects.toMatchObject({
        code: 'WSFLEET_STORE_CORRUPT',
        key: 'certs/example.com/versions/notes.txt',
      });
    });
  });
});
