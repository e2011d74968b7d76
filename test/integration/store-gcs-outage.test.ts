/**
 * The GCS store when GCS misbehaves: errors, refusals, a store that hangs and one that is gone.
 * Each case ends in the documented StoreError within a bound, and nothing is half-written.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCertStore } from '../../daemons/shared/store/cert-store-impl.ts';
import { createGcsStore, type GcsStoreOptions } from '../../daemons/shared/store/gcs-store.ts';
import { type GcsDouble, startGcsDouble } from '../../scripts/lab/gcs-double/server.ts';

describe('GCS store outages', () => {
  let double: GcsDouble;
  let stores = 0;

  beforeAll(async () => {
    double = await startGcsDouble();
  });
  afterAll(() => double.stop());
  afterEach(() => double.fail({ kind: 'none' }));

  const open = (options: Partial<GcsStoreOptions> = {}) =>
    createGcsStore({
      bucket: 'wsfleet-test',
      prefix: `outage-${++stores}`,
      apiEndpoint: double.apiEndpoint,
      retry: { maxRetries: 2, maxDelayMs: 1_000 },
      requestTimeoutMs: 1_000,
      deadlineMs: 8_000,
      ...options,
    });

  /** Runs `fn`, returning what it threw and how long it took. */
  async function timed(fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
    const started = Date.now();
    const error = await fn().then(
      () => undefined,
      (err: unknown) => err,
    );
    return { error, ms: Date.now() - started };
  }

  it('retries a passing 503 without the caller noticing, also for a guarded write', async () => {
    const store = open();
    await double.fail({ kind: 'status', status: 503, count: 1 });
    const written = await store.put('k', Buffer.from('v'), { ifGenerationMatch: '0' });
    await double.fail({ kind: 'status', status: 503, count: 1 });
    expect(await store.stat('k')).toEqual(written);
  });

  it.each([
    { status: 503, code: 'WSFLEET_STORE_UNAVAILABLE' },
    { status: 500, code: 'WSFLEET_STORE_UNAVAILABLE' },
    { status: 429, code: 'WSFLEET_STORE_UNAVAILABLE' },
  ])('gives up on repeated $status after the bounded retries with $code', async ({ status, code }) => {
    const store = open();
    await double.fail({ kind: 'status', status, count: 100 });
    const before = double.requests.length;
    const { error, ms } = await timed(() => store.stat('k'));

    expect(error).toMatchObject({ code, key: 'k' });
    expect(double.requests.length - before).toBe(3);
    expect(ms).toBeLessThan(6_000);
  });

  it.each([{ status: 401 }, { status: 403 }])(
    'reports $status as WSFLEET_STORE_DENIED at once',
    async ({ status }) => {
      const store = open();
      await double.fail({ kind: 'status', status, count: 100 });
      const before = double.requests.length;
      await expect(store.get('k')).rejects.toMatchObject({ code: 'WSFLEET_STORE_DENIED' });
      await expect(store.put('k', Buffer.from('v'))).rejects.toMatchObject({ code: 'WSFLEET_STORE_DENIED' });
      expect(double.requests.length - before).toBe(2);
    },
  );

  it('writes nothing when an upload keeps failing', async () => {
    const store = open();
    await double.fail({ kind: 'status', status: 503, count: 100 });
    await expect(store.put('k', Buffer.from('v'), { ifGenerationMatch: '0' })).rejects.toMatchObject({
      code: 'WSFLEET_STORE_UNAVAILABLE',
    });
    await double.fail({ kind: 'none' });
    expect(await store.get('k')).toBeUndefined();
  });

  it('reports an unreachable store as WSFLEET_STORE_UNAVAILABLE within a few seconds', async () => {
    const store = open();
    await store.put('k', Buffer.from('v'));
    await double.fail({ kind: 'down' });
    for (const op of [() => store.get('k'), () => store.put('k', Buffer.from('w')), () => store.list('')]) {
      const { error, ms } = await timed(op);
      expect(error).toMatchObject({ code: 'WSFLEET_STORE_UNAVAILABLE' });
      expect(ms).toBeLessThan(5_000);
    }
    await double.fail({ kind: 'none' });
    expect((await store.get('k'))?.data.toString()).toBe('v');
  });

  it('with its default settings, still gives up on an unreachable store within seconds', async () => {
    const store = createGcsStore({ bucket: 'wsfleet-test', apiEndpoint: double.apiEndpoint });
    await double.fail({ kind: 'down' });
    const { error, ms } = await timed(() => store.stat('k'));
    expect(error).toMatchObject({ code: 'WSFLEET_STORE_UNAVAILABLE' });
    expect(ms).toBeLessThan(15_000);
  }, 20_000);

  it('gives up on a store that never answers at the deadline', async () => {
    const store = open({ deadlineMs: 1_500, requestTimeoutMs: 10_000 });
    await double.fail({ kind: 'hang' });
    for (const op of [
      () => store.stat('k'),
      () => store.put('k', Buffer.from('v'), { ifGenerationMatch: '0' }),
    ]) {
      const { error, ms } = await timed(op);
      expect(error).toMatchObject({
        code: 'WSFLEET_STORE_UNAVAILABLE',
        message: expect.stringContaining('1500 ms'),
      });
      expect(ms).toBeGreaterThanOrEqual(1_400);
      expect(ms).toBeLessThan(3_000);
    }
  });

  it('retries a request that times out, then succeeds', async () => {
    const store = open({ requestTimeoutMs: 300 });
    await store.put('k', Buffer.from('v'));
    await double.fail({ kind: 'hang', count: 1 });
    expect((await store.get('k'))?.data.toString()).toBe('v');
  });

  it('reports a guarded write whose answer was lost and whose retry then failed the guard as WSFLEET_STORE_PRECONDITION', async () => {
    const store = open();
    await double.fail({ kind: 'lose-answer', count: 1 });
    await expect(store.put('k', Buffer.from('v'), { ifGenerationMatch: '0' })).rejects.toMatchObject({
      code: 'WSFLEET_STORE_PRECONDITION',
    });
    expect((await store.get('k'))?.data.toString()).toBe('v');
  });

  it('counts a publish whose answers were lost as done: the CertStore reads its own write back', async () => {
    const objects = open();
    const certs = createCertStore(objects);
    const issuedAt = '2030-01-01T00:00:00.000Z';
    const cert = {
      name: 'example.com',
      domains: ['example.com'],
      certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      privateKeyPem: '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n',
      serial: '0a',
      notBefore: issuedAt,
      notAfter: '2030-04-01T00:00:00.000Z',
      issuer: 'CN=Test',
      issuedAt,
      directoryUrl: 'https://acme.test/directory',
      ariCertId: 'aGVsbG8.AQID',
    };
    // Both writes of the publish (version, then current) land, but the first answer of each is
    // lost; the client's retries then fail their guards, and the CertStore finds its own bytes.
    const lostOnce = new Set<string>();
    await double.fail({
      kind: 'lose-answer',
      count: 2,
      when: ({ method, query }) => {
        const name = query.get('name');
        if (method !== 'POST' || name === null || lostOnce.has(name)) return false;
        lostOnce.add(name);
        return true;
      },
    });
    const published = await certs.publish(cert, undefined);
    expect([...lostOnce].map((name) => name.replace(/^outage-\d+\//, ''))).toEqual([
      published.version,
      'certs/example.com/current',
    ]);
    expect(await certs.current('example.com')).toEqual(published);
  });

  it('works with a client it is given as it is', async () => {
    const store = createGcsStore({ bucket: 'wsfleet-test', prefix: 'given', storage: double.storage() });
    const written = await store.put('k', Buffer.from('v'), { ifGenerationMatch: '0' });
    expect(await store.get('k')).toMatchObject({ ...written, data: Buffer.from('v') });
    expect(store.url).toBe('gs://wsfleet-test/given');
  });

  it('reports a bucket that does not exist as WSFLEET_STORE_UNAVAILABLE on writes and missing on reads', async () => {
    const store = createGcsStore({ bucket: 'no-such-bucket', apiEndpoint: double.apiEndpoint });
    expect(await store.get('k')).toBeUndefined();
    await expect(store.put('k', Buffer.from('v'))).rejects.toMatchObject({
      code: 'WSFLEET_STORE_UNAVAILABLE',
    });
  });
});
