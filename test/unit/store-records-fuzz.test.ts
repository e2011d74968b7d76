/**
 * What the renewer reads back from the store is hostile input too: a bucket another tool wrote
 * to, a truncated object, a hand edit. Property tests over the persisted records (the renewer's
 * state with its pending order, backoff and rate-guard history; the lease; the current pointer;
 * the account): any bytes give a valid record or WSFLEET_STORE_CORRUPT naming the key, never
 * another kind of error and never a value of the object in the message (a state holds a private
 * key); every valid state survives a write and a read unchanged; and the decisions made from a
 * valid state (backoff, rate guard) never throw.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldBack, settingsKey } from '../../daemons/renewer/backoff.ts';
import { issuanceLimit, nextAllowedIssuance, recordIssuance } from '../../daemons/renewer/rate-guard.ts';
import {
  type CertStore,
  createCertStore,
  createFileStore,
  isStoreError,
  type ObjectStore,
  type RenewerState,
} from '../../daemons/shared/store/index.ts';
import { fuzzOptions, fuzzRuns, fuzzTimeout } from '../helpers/fuzz.ts';

const NAME = 'fuzz.example';
const runs = fuzzRuns(150);
/** Each case writes and reads a file or two. */
const timeout = fuzzTimeout(runs, 40);
const SECRET = 'SECRETKEYMATERIAL';
const PEM = `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n`;

const isoTime = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const url = fc
  .tuple(fc.domain(), fc.stringMatching(/^[a-z0-9/]{0,20}$/))
  .map(([host, path]) => `https://${host}/${path}`);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

/** Any state the renewer may write: every field of stateFields, each present or not. */
const validState: fc.Arbitrary<RenewerState> = fc
  .record({
    lastAttemptAt: maybe(isoTime),
    lastSuccessAt: maybe(isoTime),
    lastError: maybe(
      fc.record({
        code: fc.string({ maxLength: 40 }),
        message: fc.string({ maxLength: 200 }),
        at: isoTime,
        permanent: maybe(fc.boolean()),
      }),
    ),
    failures: fc.nat(1_000),
    nextAttemptAt: maybe(isoTime),
    settingsKey: maybe(fc.string({ maxLength: 200 })),
    finalizedAt: maybe(fc.array(isoTime, { maxLength: 100 })),
    finalizedWith: maybe(url),
    pending: maybe(
      fc.record({
        orderUrl: url,
        keyPem: fc.constant(PEM),
        directoryUrl: url,
        domains: fc.array(fc.domain(), { minLength: 1, maxLength: 5 }),
        at: isoTime,
      }),
    ),
  })
  // Absent, not `undefined`: what JSON keeps.
  .map((s) => JSON.parse(JSON.stringify(s)) as RenewerState);

/** Bytes as they may be found: anything, any JSON, or a valid record with one field spoiled. */
function hostile(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Buffer> {
  const spoiled = fc
    .tuple(valid, fc.string({ maxLength: 20 }), fc.jsonValue())
    .map(([record, field, value]) => {
      const keys = Object.keys(record);
      const key = keys.length === 0 ? field : (keys[field.length % keys.length] as string);
      return JSON.stringify({ ...record, [key]: value });
    });
  return fc
    .oneof(
      fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
      fc.json().map((t) => Buffer.from(t)),
      spoiled.map((t) => Buffer.from(t)),
      spoiled.map((t) => Buffer.from(t.slice(0, Math.floor(t.length / 2)))),
    )
    .map((b) => b);
}

describe('persisted records under hostile bytes', () => {
  let dir: string;
  let objects: ObjectStore;
  let store: CertStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-records-fuzz-'));
    objects = createFileStore(dir);
    store = createCertStore(objects);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Reads after writing `bytes` at `key`: the value, or the StoreError it threw. */
  async function readBack<T>(key: string, bytes: Buffer, read: () => Promise<T>) {
    await objects.put(key, bytes, {});
    try {
      return { value: await read() };
    } catch (err) {
      return { err };
    }
  }

  function expectCorrupt(err: unknown, key: string): void {
    if (!isStoreError(err)) throw err;
    expect(err.code).toBe('WSFLEET_STORE_CORRUPT');
    expect(err.key).toBe(key);
    expect(err.message).not.toContain(SECRET);
  }

  it('reads the renewer state as a valid state or WSFLEET_STORE_CORRUPT, whatever the bytes', {
    timeout,
  }, async () => {
    const record = validState.map((s) => ({ format: 'wsfleet.renewer-state/1', name: NAME, ...s }));
    const key = `state/${NAME}.json`;
    await fc.assert(
      fc.asyncProperty(hostile(record), async (bytes) => {
        const got = await readBack(key, bytes, () => store.state(NAME));
        if ('err' in got) expectCorrupt(got.err, key);
        else if (got.value !== undefined) {
          // A state it accepts is one it would write itself.
          await expect(store.saveState(NAME, got.value)).resolves.toBeUndefined();
        }
      }),
      fuzzOptions(runs),
    );
  });

  it('writes and reads back every valid state unchanged', { timeout }, async () => {
    await fc.assert(
      fc.asyncProperty(validState, async (state) => {
        await objects.delete(`state/${NAME}.json`);
        await store.saveState(NAME, state);
        expect(await store.state(NAME)).toEqual(state);
      }),
      fuzzOptions(runs),
    );
  });

  it('reads the current pointer, the account and the lease as valid or WSFLEET_STORE_CORRUPT', {
    timeout,
  }, async () => {
    const directory = 'https://acme.example/directory';
    const cases = [
      {
        key: `certs/${NAME}/current`,
        record: fc.record({
          format: fc.constant('wsfleet.cert-current/1'),
          version: fc.string({ minLength: 1, maxLength: 80 }),
          serial: fc.stringMatching(/^[0-9a-f]{1,40}$/),
          notAfter: isoTime,
        }),
        read: () => store.current(NAME),
      },
      {
        key: `accounts/${createHash('sha256').update(directory).digest('hex')}.json`,
        record: fc.record({
          format: fc.constant('wsfleet.acme-account/1'),
          directoryUrl: fc.constant(directory),
          accountKeyPem: fc.constant(PEM),
          accountUrl: url,
          createdAt: isoTime,
        }),
        read: () => store.account(directory),
      },
      {
        key: `locks/${NAME}`,
        record: fc.record({
          format: fc.constant('wsfleet.cert-lock/1'),
          owner: fc.string({ minLength: 1, maxLength: 40 }),
          // Expired, so that a valid one is taken over rather than held.
          expiresAt: fc.constant('2001-01-01T00:00:00.000Z'),
        }),
        read: async () => {
          const lease = await store.lock(NAME, 'fuzzer', 60_000);
          await lease?.release();
          return lease;
        },
      },
    ];
    for (const { key, record, read } of cases) {
      await fc.assert(
        fc.asyncProperty(hostile(record), async (bytes) => {
          const got = await readBack<unknown>(key, bytes, read);
          if ('err' in got) expectCorrupt(got.err, key);
        }),
        fuzzOptions(Math.ceil(runs / 2)),
      );
    }
  });

  it('decides backoff and the rate guard from any valid state without throwing', () => {
    fc.assert(
      fc.property(validState, isoTime, fc.option(fc.nat(400 * 86_400_000)), (state, now, lifetime) => {
        const at = new Date(now);
        const key = settingsKey('https://acme.example/directory', [NAME]);
        const hold = heldBack(state, state.settingsKey ?? key, at);
        if (hold?.retryAt !== undefined) expect(hold.retryAt.getTime()).toBeGreaterThan(at.getTime());
        const limit = issuanceLimit(lifetime ?? undefined);
        expect(limit).toBeGreaterThanOrEqual(2);
        expect(limit).toBeLessThanOrEqual(4);
        const next = nextAllowedIssuance(state.finalizedAt ?? [], at, limit);
        if (next !== undefined) expect(next.getTime()).toBeGreaterThan(at.getTime());
        const recorded = recordIssuance(state.finalizedAt ?? [], at);
        expect(recorded.at(-1)).toBe(at.toISOString());
      }),
      fuzzOptions(runs * 4),
    );
  });
});
