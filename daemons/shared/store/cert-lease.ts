/**
 * The issuance lease of one certificate: the object `locks/<name>` holding {owner, expiresAt}.
 * Every change is guarded by a generation, so of two processes only one can win each step:
 * taking a free lease is a create (ifGenerationMatch '0'); taking over an expired one matches the
 * generation that was read; renewing matches the generation we wrote last (a mismatch means the
 * lease was taken over); releasing deletes only that generation.
 */
import { decodeRecord, encodeRecord, JSON_TYPE, layout, schemas } from './cert-records.ts';
import type { Lease } from './cert-store.ts';
import type { ObjectMeta, ObjectStore } from './object-store.ts';
import { isStoreError, StoreError } from './store-error.ts';

// A lock that appears and vanishes this many times in a row is busy: leave it to its users.
const ATTEMPTS = 3;

export interface LeaseRequest {
  readonly name: string;
  readonly owner: string;
  readonly leaseMs: number;
  readonly now: () => Date;
}

export async function takeLease(objects: ObjectStore, request: LeaseRequest): Promise<Lease | undefined> {
  const { name, owner, leaseMs, now } = request;
  const key = layout.lock(name);
  const body = () =>
    encodeRecord({
      format: 'wsfleet.cert-lock/1',
      owner,
      expiresAt: new Date(now().getTime() + leaseMs).toISOString(),
    });
  const write = (ifGenerationMatch: string) =>
    objects.put(key, body(), { ifGenerationMatch, contentType: JSON_TYPE });

  let held: ObjectMeta | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS && held === undefined; attempt++) {
    try {
      held = await write('0');
      break;
    } catch (err) {
      if (!isStoreError(err, 'WSFLEET_STORE_PRECONDITION')) throw err;
    }
    const existing = await objects.get(key);
    if (existing === undefined) continue;
    const lock = decodeRecord(schemas.lock, existing, objects.url);
    // A live lease is never taken, not even by an owner of the same name: owner names are
    // unique per process, and an equal name may be an earlier life still finishing its order.
    if (Date.parse(lock.expiresAt) >= now().getTime()) return undefined;
    try {
      held = await write(existing.generation);
    } catch (err) {
      if (isStoreError(err, 'WSFLEET_STORE_PRECONDITION')) return undefined;
      throw err;
    }
  }
  if (held === undefined) return undefined;

  let generation = held.generation;
  // Renewals run one after another: two at once (a keep-alive timer and a fencing check) would
  // race on our own generation and one would wrongly find the lease lost.
  let renewing: Promise<void> = Promise.resolve();
  async function renewOnce(): Promise<void> {
    try {
      generation = (await write(generation)).generation;
    } catch (err) {
      if (!isStoreError(err, 'WSFLEET_STORE_PRECONDITION')) throw err;
      throw new StoreError('WSFLEET_STORE_PRECONDITION', `The lease of ${name} was lost to another owner`, {
        url: objects.url,
        key,
        cause: err,
      });
    }
  }
  return {
    owner,
    renew() {
      const next = renewing.catch(() => undefined).then(renewOnce);
      renewing = next;
      return next;
    },
    async release() {
      await renewing.catch(() => undefined);
      try {
        await objects.delete(key, { ifGenerationMatch: generation });
      } catch (err) {
        if (!isStoreError(err, 'WSFLEET_STORE_PRECONDITION')) throw err;
      }
    },
  };
}
