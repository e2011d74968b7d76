/**
 * The CertStore on any ObjectStore (layout and guarantees in cert-store.ts). Writes that must not
 * race carry a precondition; a write that ends in WSFLEET_STORE_PRECONDITION is read back once,
 * because a retried request whose first attempt did land also ends that way — then the object
 * holds exactly our bytes and the write counts as done.
 */
import { takeLease } from './cert-lease.ts';
import {
  accountFields,
  certificateFields,
  checkName,
  checkRecord,
  corrupt,
  decodeRecord,
  encodeRecord,
  JSON_TYPE,
  layout,
  parseVersionKey,
  schemas,
  stateFields,
} from './cert-records.ts';
import type {
  AcmeAccount,
  CertificateVersion,
  CertStore,
  CurrentCertificate,
  RenewerState,
} from './cert-store.ts';
import type { ObjectStore } from './object-store.ts';
import { isStoreError, StoreError } from './store-error.ts';

export interface CertStoreOptions {
  /** The clock that decides whether a lease has expired. */
  readonly now?: () => Date;
}

// saveState re-reads and retries this often when another writer keeps changing the state.
const STATE_ATTEMPTS = 3;
/** RFC 8555 §8.3: a token is base64url; an answer is `token.thumbprint` (or a self-check probe's value). */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const ANSWER = /^[A-Za-z0-9_.-]{1,512}$/;
const TEXT_TYPE = 'text/plain; charset=utf-8';

export function createCertStore(objects: ObjectStore, options: CertStoreOptions = {}): CertStore {
  function checkChallenge(token: string, answer: string): void {
    if (!TOKEN.test(token) || !ANSWER.test(answer))
      throw new StoreError('WSFLEET_STORE_INVALID', 'An HTTP-01 token is base64url, its answer printable', {
        url: objects.url,
        cause: { token: token.slice(0, 300) },
      });
  }

  const now = options.now ?? (() => new Date());
  const url = objects.url;

  /**
   * Creates or replaces `key` if it still has `ifGenerationMatch`. On a lost race, succeeds only if
   * the object now holds exactly `bytes` (our own earlier attempt); else throws `lost()`.
   */
  async function putGuarded(
    key: string,
    bytes: Buffer,
    ifGenerationMatch: string,
    lost: (cause: unknown) => Error,
  ) {
    try {
      return await objects.put(key, bytes, { ifGenerationMatch, contentType: JSON_TYPE });
    } catch (err) {
      if (!isStoreError(err, 'WSFLEET_STORE_PRECONDITION')) throw err;
      const stored = await objects.get(key);
      if (stored?.data.equals(bytes)) return stored;
      throw lost(err);
    }
  }

  async function readCurrent(name: string): Promise<CurrentCertificate | undefined> {
    const key = layout.current(name);
    const pointerObject = await objects.get(key);
    if (pointerObject === undefined) return undefined;
    const pointer = decodeRecord(schemas.current, pointerObject, url);
    if (parseVersionKey(name, pointer.version) === undefined)
      throw corrupt(
        url,
        key,
        `points at ${JSON.stringify(pointer.version)}, not a version of ${name}`,
        pointer,
      );
    const versionObject = await objects.get(pointer.version);
    if (versionObject === undefined)
      throw corrupt(url, key, `points at the missing version ${pointer.version}`, {
        version: pointer.version,
      });
    const { format: _format, ...certificate } = decodeRecord(schemas.version, versionObject, url);
    if (certificate.name !== name || certificate.serial.toLowerCase() !== pointer.serial.toLowerCase())
      throw corrupt(
        url,
        pointer.version,
        `holds ${certificate.name} serial ${certificate.serial}, not what ${key} says`,
        {
          name: certificate.name,
          serial: certificate.serial,
        },
      );
    return { version: pointer.version, generation: pointerObject.generation, certificate };
  }

  async function readAccount(directoryUrl: string): Promise<AcmeAccount | undefined> {
    const key = layout.account(directoryUrl);
    const object = await objects.get(key);
    if (object === undefined) return undefined;
    const { format: _format, ...account } = decodeRecord(schemas.account, object, url);
    if (account.directoryUrl !== directoryUrl)
      throw corrupt(url, key, `holds the account of ${account.directoryUrl}`, {
        directoryUrl: account.directoryUrl,
      });
    return account;
  }

  async function readState(name: string): Promise<{ state: RenewerState; generation: string } | undefined> {
    const key = layout.state(name);
    const object = await objects.get(key);
    if (object === undefined) return undefined;
    const { format: _format, name: stored, ...state } = decodeRecord(schemas.state, object, url);
    if (stored !== name) throw corrupt(url, key, `holds the state of ${stored}`, { name: stored });
    return { state, generation: object.generation };
  }

  return {
    url,
    async current(name) {
      checkName(name, url);
      return readCurrent(name);
    },
    async currentGeneration(name) {
      checkName(name, url);
      return (await objects.stat(layout.current(name)))?.generation;
    },
    async publish(input: CertificateVersion, expectedGeneration) {
      const certificate = checkRecord(certificateFields, input, 'the certificate', url);
      const { name } = certificate;
      checkName(name, url);
      if (certificate.domains[0] !== name)
        throw new StoreError('WSFLEET_STORE_INVALID', `Certificate name ${name} is not its first domain`, {
          url,
          cause: { name, domains: certificate.domains },
        });
      // The version first: once issued it counts for versionsSince (the rate-limit guard) even if
      // the swing below loses its race.
      const version = layout.version(name, certificate.issuedAt, certificate.serial);
      await putGuarded(
        version,
        encodeRecord({ format: 'wsfleet.cert-version/1', ...certificate }),
        '0',
        (cause) =>
          new StoreError(
            'WSFLEET_STORE_PRECONDITION',
            'Another certificate is already stored under this version',
            {
              url,
              key: version,
              cause,
            },
          ),
      );
      const pointer = encodeRecord({
        format: 'wsfleet.cert-current/1',
        version,
        serial: certificate.serial,
        notAfter: certificate.notAfter,
      });
      const key = layout.current(name);
      const expected = expectedGeneration ?? '0';
      const swung = await putGuarded(
        key,
        pointer,
        expected,
        (cause) =>
          new StoreError(
            'WSFLEET_STORE_PRECONDITION',
            `The current certificate of ${name} changed (expected ${expectedGeneration === undefined ? 'none' : `generation ${expected}`}); ${version} is stored but not current`,
            { url, key, cause },
          ),
      );
      return { version, generation: swung.generation, certificate };
    },
    async versionsSince(name, since) {
      checkName(name, url);
      const sinceMs = Date.parse(since);
      if (Number.isNaN(sinceMs))
        throw new StoreError(
          'WSFLEET_STORE_INVALID',
          `versionsSince needs an ISO time, got ${JSON.stringify(since)}`,
          {
            url,
            cause: { since },
          },
        );
      const versions: { version: string; issuedAt: string; serial: string }[] = [];
      for (const meta of await objects.list(layout.versions(name))) {
        const parsed = parseVersionKey(name, meta.key);
        if (parsed === undefined)
          throw corrupt(url, meta.key, 'is not named like a version', { key: meta.key });
        if (Date.parse(parsed.issuedAt) >= sinceMs) versions.push({ version: meta.key, ...parsed });
      }
      return versions;
    },
    async pruneVersions(name, keep) {
      checkName(name, url);
      if (!Number.isInteger(keep) || keep < 1)
        throw new StoreError('WSFLEET_STORE_INVALID', 'pruneVersions keeps at least one version', {
          url,
          cause: { keep },
        });
      const current = (await objects.get(layout.current(name))) ?? undefined;
      const currentVersion =
        current === undefined ? undefined : decodeRecord(schemas.current, current, url).version;
      const versions = (await objects.list(layout.versions(name)))
        .filter((meta) => parseVersionKey(name, meta.key) !== undefined)
        .map((meta) => meta.key)
        .sort();
      const doomed = versions
        .slice(0, Math.max(0, versions.length - keep))
        .filter((key) => key !== currentVersion);
      for (const key of doomed) await objects.delete(key);
      return doomed;
    },
    async names() {
      const names = new Set<string>();
      for (const meta of await objects.list('certs/')) {
        const m = /^certs\/([^/]+)\/current$/.exec(meta.key);
        if (m?.[1] !== undefined) names.add(m[1]);
      }
      return [...names].sort();
    },
    async account(directoryUrl) {
      return readAccount(directoryUrl);
    },
    async saveAccount(input) {
      const account = checkRecord(accountFields, input, 'the ACME account', url);
      const key = layout.account(account.directoryUrl);
      try {
        await objects.put(key, encodeRecord({ format: 'wsfleet.acme-account/1', ...account }), {
          ifGenerationMatch: '0',
          contentType: JSON_TYPE,
        });
        return account;
      } catch (err) {
        if (!isStoreError(err, 'WSFLEET_STORE_PRECONDITION')) throw err;
        const stored = await readAccount(account.directoryUrl);
        if (stored === undefined) throw err;
        return stored;
      }
    },
    async state(name) {
      checkName(name, url);
      return (await readState(name))?.state;
    },
    async saveState(name, input) {
      checkName(name, url);
      const state = checkRecord(stateFields, input, 'the renewer state', url);
      const bytes = encodeRecord({ format: 'wsfleet.renewer-state/1', name, ...state });
      let lastError: unknown;
      for (let attempt = 1; attempt <= STATE_ATTEMPTS; attempt++) {
        // Reading first means a corrupt or foreign object is reported, never overwritten.
        const existing = await readState(name);
        try {
          await objects.put(layout.state(name), bytes, {
            ifGenerationMatch: existing?.generation ?? '0',
            contentType: JSON_TYPE,
          });
          return;
        } catch (err) {
          if (!isStoreError(err, 'WSFLEET_STORE_PRECONDITION')) throw err;
          lastError = err;
        }
      }
      throw lastError;
    },
    async putChallenge(token, answer) {
      checkChallenge(token, answer);
      await objects.put(layout.challenge(token), Buffer.from(answer), { contentType: TEXT_TYPE });
    },
    async challenge(token) {
      if (!TOKEN.test(token)) return undefined;
      const stored = await objects.get(layout.challenge(token));
      if (stored === undefined) return undefined;
      const answer = stored.data.toString('utf8');
      if (!ANSWER.test(answer))
        throw corrupt(url, layout.challenge(token), 'is not an HTTP-01 answer', answer.slice(0, 100));
      return answer;
    },
    async removeChallenge(token) {
      checkChallenge(token, 'x');
      await objects.delete(layout.challenge(token));
    },
    async lock(name, owner, leaseMs) {
      checkName(name, url);
      if (owner === '' || !Number.isFinite(leaseMs) || leaseMs <= 0)
        throw new StoreError('WSFLEET_STORE_INVALID', 'A lease needs an owner and a positive duration', {
          url,
          cause: { owner, leaseMs },
        });
      return takeLease(objects, { name, owner, leaseMs, now });
    },
  };
}
