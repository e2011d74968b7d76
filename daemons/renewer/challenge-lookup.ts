/**
 * The challenge server's reads of answers it does not hold (another renewer's, in the store).
 * Without bounds, every well-formed random token a client sends would be a store read (a GCS GET
 * in a deploy, billed and rate limited). So: a small cache of what was read, found or not, for a
 * short time; one read per token at a time; a token bucket per source and one for all sources;
 * and a cap on reads in flight. What is refused is answered at once (429 or 503) without a read.
 *
 * The renewer's own answers never come here (the server holds them in memory), so the limits
 * only bound the rare case of two renewers, and the flood.
 */
import { createBucket, type TokenBucket, take } from '../shared/token-bucket.ts';

export interface LookupLimits {
  /** How long a found answer is served from the cache. */
  readonly positiveTtlMs: number;
  /**
   * How long "no such answer" is. Short: an answer is written to the store before the CA is told
   * to fetch it, so only a guessed token is ever read before its answer exists.
   */
  readonly negativeTtlMs: number;
  /** Cached tokens at most (the oldest go first). */
  readonly maxEntries: number;
  /** Store reads in flight at most. */
  readonly maxInFlight: number;
  /** Store reads per second, all sources together, and at once. */
  readonly globalRate: number;
  readonly globalBurst: number;
  /** Store reads per second of one source, and at once. */
  readonly sourceRate: number;
  readonly sourceBurst: number;
  /** Sources tracked at most (the oldest go first). */
  readonly maxSources: number;
}

/**
 * A CA validates a name from a handful of addresses, a few requests each; a second renewer's
 * answers are needed for minutes at most. Nothing legitimate comes near these numbers.
 */
export const LOOKUP_LIMITS: LookupLimits = Object.freeze({
  positiveTtlMs: 30_000,
  negativeTtlMs: 5_000,
  maxEntries: 1_024,
  maxInFlight: 8,
  globalRate: 20,
  globalBurst: 50,
  sourceRate: 2,
  sourceBurst: 10,
  maxSources: 1_024,
});

export type LookupEvent =
  | 'cache:found'
  | 'cache:absent'
  | 'store:found'
  | 'store:absent'
  | 'store:error'
  | 'refused:source_rate'
  | 'refused:busy';

export type LookupResult =
  | { readonly kind: 'found'; readonly answer: string }
  | { readonly kind: 'absent' }
  | { readonly kind: 'refused'; readonly reason: 'source_rate' | 'busy' };

export interface ChallengeLookupOptions {
  readonly limits?: Partial<LookupLimits>;
  /** Milliseconds from a clock that never goes back. */
  readonly now: () => number;
  /** Each lookup's outcome, for metrics. */
  readonly onEvent?: (event: LookupEvent) => void;
  /** A read that failed (counted as "absent", not cached). */
  readonly onError?: (err: unknown) => void;
}

interface Entry {
  readonly answer: string | undefined;
  readonly until: number;
}

/** Drops the oldest keys of `map` until it holds at most `max`. */
function trim<K, V>(map: Map<K, V>, max: number): void {
  for (const key of map.keys()) {
    if (map.size <= max) return;
    map.delete(key);
  }
}

export function createChallengeLookup(
  read: (token: string) => Promise<string | undefined>,
  { limits: given = {}, now, onEvent, onError }: ChallengeLookupOptions,
): (token: string, source: string) => Promise<LookupResult> {
  const limits = { ...LOOKUP_LIMITS, ...given };
  const cache = new Map<string, Entry>();
  const reading = new Map<string, Promise<string | undefined>>();
  const sources = new Map<string, TokenBucket>();
  const everyone = createBucket(limits.globalBurst, now());
  let inFlight = 0;

  const result = (answer: string | undefined): LookupResult =>
    answer === undefined ? { kind: 'absent' } : { kind: 'found', answer };
  const refuse = (reason: 'source_rate' | 'busy'): LookupResult => {
    onEvent?.(`refused:${reason}`);
    return { kind: 'refused', reason };
  };

  function sourceBucket(source: string, at: number): TokenBucket {
    let bucket = sources.get(source);
    if (bucket === undefined) {
      bucket = createBucket(limits.sourceBurst, at);
      sources.set(source, bucket);
      trim(sources, limits.maxSources);
    }
    return bucket;
  }

  async function storeRead(token: string): Promise<string | undefined> {
    inFlight += 1;
    try {
      const answer = await read(token);
      onEvent?.(answer === undefined ? 'store:absent' : 'store:found');
      cache.delete(token);
      cache.set(token, {
        answer,
        until: now() + (answer === undefined ? limits.negativeTtlMs : limits.positiveTtlMs),
      });
      trim(cache, limits.maxEntries);
      return answer;
    } catch (err) {
      onEvent?.('store:error');
      onError?.(err);
      return undefined;
    } finally {
      inFlight -= 1;
      reading.delete(token);
    }
  }

  return async (token, source) => {
    const at = now();
    const cached = cache.get(token);
    if (cached !== undefined && cached.until > at) {
      onEvent?.(cached.answer === undefined ? 'cache:absent' : 'cache:found');
      return result(cached.answer);
    }
    if (cached !== undefined) cache.delete(token);
    const joined = reading.get(token);
    if (joined !== undefined) {
      const answer = await joined;
      onEvent?.(answer === undefined ? 'cache:absent' : 'cache:found');
      return result(answer);
    }
    // In flight first: a refusal for being busy spends no one's tokens.
    if (inFlight >= limits.maxInFlight) return refuse('busy');
    if (!take(sourceBucket(source, at), limits.sourceRate, limits.sourceBurst, at))
      return refuse('source_rate');
    if (!take(everyone, limits.globalRate, limits.globalBurst, at)) return refuse('busy');
    const pending = storeRead(token);
    reading.set(token, pending);
    return result(await pending);
  };
}
