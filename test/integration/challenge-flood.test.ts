/**
 * The challenge server under a flood of tokens it does not hold: every such token costs a store
 * read (a GCS GET in a deploy) unless the server bounds them. Counts the reads that reach the
 * store: each token is read once within its cache time, one source gets at most its burst, all
 * sources together at most the global burst, and no more than the concurrency limit at once. A
 * frozen clock, so no bucket refills while the flood runs and the counts are exact.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { LOOKUP_LIMITS, type LookupLimits } from '../../daemons/renewer/challenge-lookup.ts';
import {
  CHALLENGE_PATH,
  type ChallengeServer,
  createChallengeServer,
} from '../../daemons/renewer/challenge-server.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { fuzzOptions, fuzzRuns, fuzzTimeout } from '../helpers/fuzz.ts';
import { waitFor } from '../helpers/wait.ts';

const log = createLogger({ name: 'challenge-flood', level: 'silent' });

/** A base64url token nobody holds. */
const randomToken = () => randomBytes(12).toString('base64url');

describe('ChallengeServer under a flood of unknown tokens', () => {
  const servers: ChallengeServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function started(
    read: (token: string) => Promise<string | undefined>,
    limits: Partial<LookupLimits> = {},
  ) {
    const events: string[] = [];
    const server = createChallengeServer({
      host: '127.0.0.1',
      port: 0,
      log,
      lookup: read,
      limits,
      // Frozen: no bucket refills and no cache entry expires while the flood runs.
      now: () => 1_000,
      onLookup: (event) => events.push(event),
    });
    servers.push(server);
    await server.start();
    return { server, base: `http://127.0.0.1:${server.address()?.port}`, events };
  }

  async function status(base: string, path: string, source?: string): Promise<number> {
    const res = await fetch(`${base}${path}`, {
      signal: AbortSignal.timeout(5_000),
      ...(source === undefined ? {} : { headers: { 'x-forwarded-for': source } }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  it('reads the store at most a source burst of times for one source, refusing the rest with 429', async () => {
    const reads: string[] = [];
    const { base, events } = await started(async (token) => {
      reads.push(token);
      return undefined;
    });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, () => status(base, `${CHALLENGE_PATH}${randomToken()}`)),
        )),
      );
    }
    expect(reads).toHaveLength(LOOKUP_LIMITS.sourceBurst);
    expect(statuses.filter((s) => s === 404)).toHaveLength(LOOKUP_LIMITS.sourceBurst);
    expect(statuses.filter((s) => s === 429)).toHaveLength(200 - LOOKUP_LIMITS.sourceBurst);
    expect(events.filter((e) => e === 'refused:source_rate')).toHaveLength(200 - LOOKUP_LIMITS.sourceBurst);
    expect(events.filter((e) => e === 'store:absent')).toHaveLength(LOOKUP_LIMITS.sourceBurst);
  });

  it('reads the store at most the global burst of times across many sources, refusing the rest with 503', async () => {
    let reads = 0;
    const { base, events } = await started(async () => {
      reads += 1;
      return undefined;
    });
    const statuses: number[] = [];
    // Each request from a source of its own (as nginx passes it in X-Forwarded-For).
    for (let batch = 0; batch < 10; batch++) {
      statuses.push(
        ...(await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            status(base, `${CHALLENGE_PATH}${randomToken()}`, `192.0.2.${batch * 30 + i}`),
          ),
        )),
      );
    }
    expect(reads).toBe(LOOKUP_LIMITS.globalBurst);
    expect(statuses.filter((s) => s === 503)).toHaveLength(300 - LOOKUP_LIMITS.globalBurst);
    expect(events.filter((e) => e === 'refused:busy')).toHaveLength(300 - LOOKUP_LIMITS.globalBurst);
  });

  it('reads a token once within its cache time, found or not', async () => {
    const reads: string[] = [];
    const { base, events } = await started(async (token) => {
      reads.push(token);
      return token === 'known' ? 'known.thumbprint' : undefined;
    });
    for (let i = 0; i < 50; i++) {
      expect(await status(base, `${CHALLENGE_PATH}known`)).toBe(200);
      expect(await status(base, `${CHALLENGE_PATH}unknown`)).toBe(404);
    }
    expect(reads).toEqual(['known', 'unknown']);
    expect(events.filter((e) => e === 'cache:found')).toHaveLength(49);
    expect(events.filter((e) => e === 'cache:absent')).toHaveLength(49);
  });

  it('reads the store again once an entry is past its cache time', async () => {
    let clock = 1_000;
    let reads = 0;
    const server = createChallengeServer({
      host: '127.0.0.1',
      port: 0,
      log,
      lookup: async () => {
        reads += 1;
        return undefined;
      },
      now: () => clock,
    });
    servers.push(server);
    await server.start();
    const base = `http://127.0.0.1:${server.address()?.port}`;
    expect(await status(base, `${CHALLENGE_PATH}later`)).toBe(404);
    clock += LOOKUP_LIMITS.negativeTtlMs - 1;
    expect(await status(base, `${CHALLENGE_PATH}later`)).toBe(404);
    expect(reads).toBe(1);
    clock += 2;
    expect(await status(base, `${CHALLENGE_PATH}later`)).toBe(404);
    expect(reads).toBe(2);
  });

  it('keeps at most the concurrency limit of reads in flight, answering the rest 503 at once', async () => {
    let inFlight = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const { base } = await started(
      () =>
        new Promise((resolve) => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          release.push(() => {
            inFlight -= 1;
            resolve(undefined);
          });
        }),
      { sourceBurst: 1_000, globalBurst: 1_000 },
    );
    const answered: number[] = [];
    const pending = Array.from({ length: 40 }, (_, i) =>
      status(base, `${CHALLENGE_PATH}${randomToken()}`, `198.51.100.${i}`).then((code) => {
        answered.push(code);
        return code;
      }),
    );
    // The refused ones answer while the others still wait for the store.
    await waitFor(
      () =>
        release.length === LOOKUP_LIMITS.maxInFlight && answered.length === 40 - LOOKUP_LIMITS.maxInFlight,
      10_000,
      'the reads in flight and the refusals',
    );
    expect(new Set(answered)).toEqual(new Set([503]));
    expect(most).toBe(LOOKUP_LIMITS.maxInFlight);
    for (const r of release.splice(0)) r();
    const all = await Promise.all(pending);
    expect(all.filter((code) => code === 404)).toHaveLength(LOOKUP_LIMITS.maxInFlight);
  });

  it('never serves its own answers less because of the limits', async () => {
    const { server, base } = await started(async () => undefined, { sourceBurst: 1, globalBurst: 1 });
    server.set('own', 'own.thumbprint');
    await status(base, `${CHALLENGE_PATH}${randomToken()}`);
    await status(base, `${CHALLENGE_PATH}${randomToken()}`);
    for (let i = 0; i < 20; i++) expect(await status(base, `${CHALLENGE_PATH}own`)).toBe(200);
  });

  it('answers any request line with a status, and reads the store only for a well-formed challenge token', {
    timeout: fuzzTimeout(fuzzRuns(150), 100),
  }, async () => {
    const reads: string[] = [];
    const { base } = await started(
      async (token) => {
        reads.push(token);
        return undefined;
      },
      { sourceBurst: 1_000_000, globalBurst: 1_000_000 },
    );
    const port = Number(new URL(base).port);
    const raw = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
        socket.on('data', (chunk) => {
          text += chunk.toString('latin1');
        });
        socket.on('end', () => resolve(text));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        socket.end(Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));
      });
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,300}$/);
    const target = fc.oneof(
      fc
        .string({ unit: fc.nat(255).map((c) => String.fromCharCode(c)), maxLength: 300 })
        .map((s) => s.replace(/[\r\n ]/g, '')),
      token.map((t) => `${CHALLENGE_PATH}${t}`),
      fc
        .tuple(token, fc.string({ maxLength: 40 }))
        .map(([t, rest]) => `${CHALLENGE_PATH}${t}${rest.replace(/[\r\n ]/g, '')}`),
      fc.constantFrom('/livez', '/', CHALLENGE_PATH, '*', '//x', `${CHALLENGE_PATH}../x`),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(target, async (t) => {
        // Unique per case, so the cache does not hide a read.
        const path = t.startsWith(CHALLENGE_PATH) ? t.replace(CHALLENGE_PATH, `${CHALLENGE_PATH}${n++}`) : t;
        const before = reads.length;
        const answer = await raw(path);
        const code = Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1]);
        expect([400, 404]).toContain(code);
        const name = path.split('?')[0]?.slice(CHALLENGE_PATH.length) ?? '';
        const wellFormed =
          code !== 400 && path.startsWith(CHALLENGE_PATH) && /^[A-Za-z0-9_-]{1,256}$/.test(name);
        expect(reads.slice(before)).toEqual(wellFormed ? [name] : []);
      }),
      fuzzOptions(fuzzRuns(150)),
    );
  });
});
