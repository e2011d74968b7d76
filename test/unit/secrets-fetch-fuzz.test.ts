/**
 * Whatever the metadata server, Secret Manager or the Redis API answer — any status, any bytes,
 * any JSON, a body cut short, a connection refused — `wsfleet app fetch-secrets` and
 * `wsfleet app redis-auth` end in a valid value or their own error (WSFLEET_SECRET_UNAVAILABLE,
 * WSFLEET_REDIS_AUTH_UNAVAILABLE), never another throw, and no error message holds the VM's
 * access token or a secret value the answers carried.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../daemons/app/crc32c.ts';
import { fetchSecrets } from '../../daemons/app/fetch-secrets-command.ts';
import { fetchRedisAuth } from '../../daemons/app/redis-auth-command.ts';
import { SecretError } from '../../daemons/app/secret-source.ts';
import { WsfleetError } from '../../daemons/shared/errors.ts';
import { fuzzOptions, fuzzRuns, fuzzTimeout } from '../helpers/fuzz.ts';

/** What the test plants in answers: none of it may reach an error message. */
const TOKEN = 'ya29.PLANTED-ACCESS-TOKEN';
const SECRET = 'PLANTED-SECRET-VALUE-0123456789abcdef';

interface Answer {
  readonly status: number;
  /** The body's bytes, or a body that breaks after them. */
  readonly body: Uint8Array;
  readonly breaks: boolean;
}

const text = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');

/** Bodies Google might send, bodies it never would, and the shapes between. */
const body = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }).map(text),
  fc.constantFrom('', 'null', '[]', '{}', '{"', '\u0000', '{"payload":null}').map(text),
  // Secret Manager's access answer, right or subtly wrong.
  fc
    .record({
      name: fc.oneof(
        fc.constant('projects/1/secrets/s/versions/7'),
        fc.constant('projects/1/secrets/s/versions/1'),
        fc.string(),
        fc.integer(),
      ),
      data: fc.oneof(
        fc.constant(b64(SECRET)),
        fc.uint8Array({ maxLength: 80 }).map(b64),
        fc.string({ maxLength: 80 }),
        fc.constant(b64(`${SECRET}\n`)),
        fc.integer(),
      ),
      sum: fc.oneof(
        fc.constant(String(crc32c(Buffer.from(SECRET)))),
        fc.constant(crc32c(Buffer.from(SECRET))),
        fc.string({ maxLength: 12 }),
        fc.constant(undefined),
        fc.constant(null),
      ),
    })
    .map(({ name, data, sum }) =>
      text({ name, payload: { data, ...(sum === undefined ? {} : { dataCrc32c: sum }) } }),
    ),
  // The metadata server's token answer, and the Redis API's authString answer.
  fc
    .oneof(fc.constant(TOKEN), fc.string({ maxLength: 40 }), fc.integer(), fc.constant(`${TOKEN}\r\nX: y`))
    .map((t) => text({ access_token: t, expires_in: 3599, token_type: 'Bearer' })),
  fc
    .oneof(fc.constant(SECRET), fc.string({ maxLength: 40 }), fc.constant(`${SECRET} "x"`), fc.constant(''))
    .map((a) => text({ authString: a })),
  // Google's error bodies, with messages that quote what they should not.
  fc
    .record({
      code: fc.integer({ min: 100, max: 599 }),
      message: fc.oneof(fc.string(), fc.constant(`token ${TOKEN} refused`), fc.constant(`value ${SECRET}`)),
      status: fc.oneof(
        fc.constantFrom('PERMISSION_DENIED', 'NOT_FOUND', 'FAILED_PRECONDITION'),
        fc.string(),
        fc.constant(SECRET),
      ),
    })
    .map((error) => text({ error })),
);

const answer: fc.Arbitrary<Answer | 'refused'> = fc.oneof(
  { weight: 1, arbitrary: fc.constant('refused' as const) },
  {
    weight: 9,
    arbitrary: fc.record({
      status: fc.oneof(
        fc.constantFrom(200, 200, 200, 400, 403, 404, 500),
        fc.integer({ min: 200, max: 599 }),
      ),
      body,
      breaks: fc.boolean(),
    }),
  },
);

/** A right answer of each kind, so that the cases also reach the steps after them. */
const good = {
  token: { status: 200, body: text({ access_token: TOKEN }), breaks: false },
  access: (version: number): Answer => ({
    status: 200,
    body: text({
      name: `projects/1/secrets/s/versions/${version}`,
      payload: { data: b64(SECRET), dataCrc32c: String(crc32c(Buffer.from(SECRET))) },
    }),
    breaks: false,
  }),
  auth: { status: 200, body: text({ authString: SECRET }), breaks: false },
} as const;

/** The metadata server's answer first, then the API's: each mostly right, else anything. */
const answers = (api: fc.Arbitrary<Answer>, most: number): fc.Arbitrary<(Answer | 'refused')[]> =>
  fc
    .tuple(
      fc.oneof({ weight: 4, arbitrary: fc.constant<Answer>(good.token) }, { weight: 1, arbitrary: answer }),
      fc.array(fc.oneof({ weight: 3, arbitrary: api }, { weight: 2, arbitrary: answer }), {
        minLength: 1,
        maxLength: most,
      }),
    )
    .map(([first, rest]) => [first, ...rest]);

/** A fetch that answers each request with the next answer (the last one repeats). */
function fakeFetch(answers: readonly (Answer | 'refused')[]): typeof fetch {
  let i = 0;
  return (async (_url: unknown, init?: RequestInit) => {
    // What undici checks before sending: a header value it cannot send is its own TypeError.
    new Headers(init?.headers);
    const a = answers[Math.min(i++, answers.length - 1)] ?? 'refused';
    if (a === 'refused') throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(a.body);
        if (a.breaks) controller.error(new TypeError('terminated'));
        else controller.close();
      },
    });
    return new Response(a.status === 204 || a.status === 205 || a.status === 304 ? null : stream, {
      status: a.status,
    });
  }) as typeof fetch;
}

function expectClean(err: unknown, code: string): void {
  expect(err).toBeInstanceOf(WsfleetError);
  expect((err as WsfleetError).code).toBe(code);
  const message = (err as Error).message;
  expect(message).not.toContain(TOKEN);
  expect(message).not.toContain(SECRET);
}

describe('wsfleet app fetch-secrets under arbitrary answers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-fetch-fuzz-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const runs = fuzzRuns(300);
  it('writes printable values or fails with WSFLEET_SECRET_UNAVAILABLE, never showing a secret', {
    timeout: fuzzTimeout(runs, 50),
  }, async () => {
    const seen = { values: 0, errors: 0, previous: 0 };
    await fc.assert(
      fc.asyncProperty(answers(fc.constantFrom(good.access(2), good.access(1)), 4), async (list) => {
        const out = join(dir, 'app-secrets.env');
        await rm(out, { force: true });
        const config = {
          tokenSecretFrom: 'gcp:proj-test/wsfleet-token-secret',
          apiKeyFrom: 'gcp:proj-test/wsfleet-api-key',
          out,
          metadataUrl: 'http://127.0.0.1:9',
          secretManagerUrl: 'http://127.0.0.1:9/',
          timeout: 5,
        };
        try {
          await fetchSecrets(config, { fetch: fakeFetch(list) });
        } catch (err) {
          expect(err).toBeInstanceOf(SecretError);
          expectClean(err, 'WSFLEET_SECRET_UNAVAILABLE');
          await expect(readFile(out)).rejects.toThrow();
          seen.errors += 1;
          return;
        }
        const lines = (await readFile(out, 'utf8')).split('\n');
        expect(lines.pop()).toBe('');
        for (const line of lines)
          expect(line).toMatch(/^WSFLEET_(TOKEN_SECRET|API_KEY)(_PREVIOUS)?=[\x21-\x7e]{1,4096}$/);
        seen.values += 1;
        if (lines.length > 2) seen.previous += 1;
      }),
      fuzzOptions(runs),
    );
    // The cases reached every outcome, not only the first refusal.
    expect(seen.values).toBeGreaterThan(0);
    expect(seen.previous).toBeGreaterThan(0);
    expect(seen.errors).toBeGreaterThan(0);
  });
});

describe('wsfleet app redis-auth under arbitrary answers', () => {
  const runs = fuzzRuns(300);
  it('returns an AUTH string an env file can hold or fails with WSFLEET_REDIS_AUTH_UNAVAILABLE, never showing a secret', {
    timeout: fuzzTimeout(runs, 50),
  }, async () => {
    const seen = { values: 0, errors: 0 };
    await fc.assert(
      fc.asyncProperty(answers(fc.constant<Answer>(good.auth), 1), async (list) => {
        let value: string;
        try {
          value = await fetchRedisAuth(
            {
              redisInstance: 'projects/proj-test/locations/europe-west4/instances/wsfleet-redis',
              metadataUrl: 'http://127.0.0.1:9/computeMetadata/v1',
              redisApi: 'http://127.0.0.1:9/v1',
            },
            { fetch: fakeFetch(list) },
          );
        } catch (err) {
          expectClean(err, 'WSFLEET_REDIS_AUTH_UNAVAILABLE');
          seen.errors += 1;
          return;
        }
        expect(value).toMatch(/^[\x21\x23-\x26\x28-\x5b\x5d-\x7e]{1,512}$/);
        seen.values += 1;
      }),
      fuzzOptions(runs),
    );
    expect(seen.values).toBeGreaterThan(0);
    expect(seen.errors).toBeGreaterThan(0);
  });
});
