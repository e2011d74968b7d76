/**
 * Property-based tests of hostile input: one fixed seed, so every run of `npm run check` tries the
 * same cases, and `FUZZ_RUNS=N` for a long run (every property then tries N cases).
 */
import fc from 'fast-check';

export const FUZZ_SEED = 1_207_2026;

/** Cases per property: `FUZZ_RUNS` when set, else the given default sized for `npm run check`. */
export function fuzzRuns(fallback: number): number {
  const raw = process.env.FUZZ_RUNS;
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${raw}`);
  return n;
}

/** A timeout for a fuzz test that scales with the number of runs. */
export function fuzzTimeout(runs: number, msPerRun: number): number {
  return Math.max(30_000, runs * msPerRun);
}

export function fuzzOptions(runs: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: runs, endOnFailure: true };
}

const CHANNELS = ['c', 'news', 'a.b:c@d/e=f-g_h', 'x'.repeat(200)];

/** `[` nested `depth` deep, as JSON text (building it as a value would overflow our own stringify). */
export const deepText = fc
  .record({ depth: fc.integer({ min: 1, max: 6000 }), open: fc.constantFrom('[', '{"a":') })
  .map(({ depth, open }) => `${open.repeat(depth)}1${(open === '[' ? ']' : '}').repeat(depth)}`);

/** JSON text of anything a field may hold: every type, huge and odd numbers, unicode, deep nesting. */
export const jsonText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '1e400',
    '-1e400',
    '-0',
    '123456789012345678901234567890',
    '9007199254740993',
    '0.5',
    'null',
    'true',
    '[]',
    '{}',
    '"\\ud800"',
    '"\\u0000"',
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
  ),
  fc.string({ unit: 'binary', maxLength: 80 }).map((s) => JSON.stringify(s)),
  fc.integer({ min: 65, max: 20_000 }).map((n) => JSON.stringify('l'.repeat(n))),
  deepText,
);

const opText = fc.oneof(
  fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'ping', 'refresh').map((o) => JSON.stringify(o)),
  jsonText,
);
const channelText = fc.oneof(
  fc.constantFrom(...CHANNELS).map((c) => JSON.stringify(c)),
  jsonText,
);

/** A client text frame: mostly JSON objects with protocol fields of any type, sometimes garbage. */
export const frameText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record(
        {
          op: opText,
          channel: channelText,
          id: jsonText,
          data: jsonText,
          since: jsonText,
          epoch: jsonText,
          token: jsonText,
          idempotencyKey: jsonText,
          proto: jsonText,
        },
        { requiredKeys: ['op'] },
      )
      .map((fields) => {
        // `proto` goes out as "__proto__": a key JSON.parse keeps as an own property.
        const entries = Object.entries(fields).map(
          ([k, v]) => `${JSON.stringify(k === 'proto' ? '__proto__' : k)}:${v}`,
        );
        return `{${entries.join(',')}}`;
      }),
  },
  { weight: 1, arbitrary: jsonText },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
);

/** One thing a client sends: a text frame or a binary one. */
export const clientFrame = fc.oneof(
  { weight: 9, arbitrary: frameText.map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes })) },
);
