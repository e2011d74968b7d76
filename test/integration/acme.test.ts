import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AcmeClientOptions, createAcmeClient } from '../../daemons/renewer/acme.ts';
import { AcmeError } from '../../daemons/renewer/acme-errors.ts';
import { type ChallengeServer, createChallengeServer } from '../../daemons/renewer/challenge-server.ts';
import {
  certificateInfo,
  keyMatchesCertificate,
  splitPemChain,
} from '../../daemons/shared/certificate-info.ts';
import { WsfleetError } from '../../daemons/shared/errors.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import type { AcmeAccount } from '../../daemons/shared/store/cert-store.ts';
import type { AriProxy } from '../helpers/ari-proxy.ts';
import { freePort } from '../helpers/net.ts';
import { type Pebble, startPebble, trustAgent } from '../helpers/pebble.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);

/** The two CertStore methods the ACME client uses, in memory. */
function memoryStore() {
  const accounts = new Map<string, AcmeAccount>();
  let saves = 0;
  return {
    accounts,
    get saves() {
      return saves;
    },
    async account(directoryUrl: string) {
      return accounts.get(directoryUrl);
    },
    async saveAccount(account: AcmeAccount) {
      saves++;
      const existing = accounts.get(account.directoryUrl);
      if (existing !== undefined) return existing;
      accounts.set(account.directoryUrl, account);
      return account;
    },
  };
}

function memoryLog() {
  const raw: string[] = [];
  const log = createLogger({
    name: 'acme',
    level: 'debug',
    destination: { write: (line: string) => void raw.push(line) },
  });
  return { log, raw };
}

/** Issuance in a Pebble lab: Pebble, its DNS, the ARI proxy and our challenge server on httpPort. */
async function startLab(options: { nonceReject?: number } = {}) {
  const httpPort = await freePort();
  const pebble = await startPebble({ httpPort, ari: true, ...options });
  const { log, raw } = memoryLog();
  const challenges = createChallengeServer({ host: '127.0.0.1', port: httpPort, log });
  try {
    await challenges.start();
  } catch (err) {
    await pebble.stop();
    throw err;
  }
  const ari = pebble.ari as AriProxy;
  return {
    pebble,
    ari,
    challenges,
    log,
    raw,
    client(
      directoryUrl: string,
      store: AcmeClientOptions['store'] = memoryStore(),
      extra: Partial<AcmeClientOptions> = {},
    ) {
      return createAcmeClient({
        directoryUrl,
        store,
        challenges,
        log,
        agent: trustAgent(pebble.caPem),
        // Pebble validates at once (PEBBLE_VA_NOSLEEP): poll quickly.
        poll: { minMs: 100, maxMs: 500 },
        ...extra,
      });
    },
    async stop() {
      await challenges.close();
      await pebble.stop();
    },
  };
}

type Lab = Awaited<ReturnType<typeof startLab>>;

async function rejection(promise: Promise<unknown>): Promise<AcmeError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AcmeError);
    return err as AcmeError;
  }
  throw new Error('expected the promise to reject');
}

describe('AcmeClient (against Pebble)', () => {
  let lab: Lab;
  let pebble: Pebble;
  let ari: AriProxy;

  beforeAll(async () => {
    lab = await startLab();
    pebble = lab.pebble;
    ari = lab.ari;
  });

  afterAll(async () => {
    await lab?.stop();
  });

  describe('#issue', () => {
    it('issues a certificate for two names through the challenge server, chaining to Pebble’s root', async () => {
      const tokens = new Set<string>();
      const challenges: Pick<ChallengeServer, 'set' | 'remove'> = {
        set: (token, keyAuthorization) => {
          tokens.add(token);
          lab.challenges.set(token, keyAuthorization);
        },
        remove: (token) => {
          tokens.delete(token);
          lab.challenges.remove(token);
        },
      };
      const steps: string[] = [];
      const client = lab.client(pebble.directoryUrl, memoryStore(), { challenges });
      const issued = await client.issue({ domains: ['a.test', 'www.a.test'] }, (step) => steps.push(step));

      expect(steps).toEqual(['account', 'order', 'authorize', 'authorize', 'finalize', 'issued']);
      expect(tokens.size).toBe(0);
      const info = certificateInfo(issued.certificatePem);
      expect(info.dnsNames).toEqual(expect.arrayContaining(['a.test', 'www.a.test']));
      expect(keyMatchesCertificate(issued.certificatePem, issued.privateKeyPem)).toBe(true);
      expect(issued.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      expect(createPrivateKey(issued.privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

      const [leaf, intermediate] = splitPemChain(issued.certificatePem).map(
        (pem) => new X509Certificate(pem),
      );
      const root = new X509Certificate(await pebble.rootsPem());
      expect(leaf && intermediate).toBeTruthy();
      expect(leaf?.checkIssued(intermediate as X509Certificate)).toBe(true);
      expect(leaf?.verify((intermediate as X509Certificate).publicKey)).toBe(true);
      expect(intermediate?.checkIssued(root)).toBe(true);
      expect(intermediate?.verify(root.publicKey)).toBe(true);
      expect(lab.raw.join('')).not.toContain('PRIVATE KEY');
    });

    it('reuses the stored account from a second client with the same store', async () => {
      const store = memoryStore();
      await lab.client(ari.directoryUrl, store).issue({ domains: ['reuse1.test'] });
      const account = store.accounts.get(ari.directoryUrl);
      expect(account?.accountUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
      expect(account?.accountKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);

      const before = ari.newOrders.length;
      await lab.client(ari.directoryUrl, store).issue({ domains: ['reuse2.test'] });
      expect(store.saves).toBe(1);
      expect(ari.newOrders.slice(before).map((o) => o.protectedHeader.kid)).toEqual([account?.accountUrl]);
    });

    it('uses the account another renewer stored first when both created one', async () => {
      const winner = memoryStore();
      await lab.client(ari.directoryUrl, winner).issue({ domains: ['race1.test'] });
      const stored = winner.accounts.get(ari.directoryUrl) as AcmeAccount;
      // This renewer found no account, created one, and lost the race to store it.
      const loser = { account: async () => undefined, saveAccount: async () => stored };
      const before = ari.newOrders.length;
      await lab.client(ari.directoryUrl, loser).issue({ domains: ['race2.test'] });
      expect(ari.newOrders.slice(before).map((o) => o.protectedHeader.kid)).toEqual([stored.accountUrl]);
    });

    it('sends profile and replaces in newOrder', async () => {
      const before = ari.newOrders.length;
      await lab.client(ari.directoryUrl).issue({
        domains: ['profile.test'],
        profile: 'shortlived',
        replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
      });
      // The JWS names the proxy's URL, which Pebble accepted: the proxy kept the Host header.
      expect(ari.newOrders.slice(before).map((o) => o.protectedHeader.url)).toEqual([
        `${new URL(ari.directoryUrl).origin}/order-plz`,
      ]);
      expect(ari.newOrders.slice(before).map((o) => o.payload)).toEqual([
        {
          identifiers: [{ type: 'dns', value: 'profile.test' }],
          profile: 'shortlived',
          replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
        },
      ]);
    });

    it('orders again without replaces when the CA says the certificate was already replaced', async () => {
      const before = ari.newOrders.length;
      ari.failNewOrder({ type: 'alreadyReplaced', detail: 'already replaced', status: 409 });
      await lab.client(ari.directoryUrl).issue({ domains: ['replaced.test'], replaces: 'abc.AQ' });
      expect(ari.newOrders.slice(before).map((o) => o.payload.replaces)).toEqual(['abc.AQ', undefined]);
    });

    it('awaits beforeFinalize after the names are validated and before finalizing', async () => {
      const events: string[] = [];
      await lab.client(pebble.directoryUrl).issue(
        {
          domains: ['hook.test'],
          beforeFinalize: async () => {
            events.push('beforeFinalize');
          },
        },
        (step) => events.push(step),
      );
      expect(events).toEqual(['account', 'order', 'authorize', 'beforeFinalize', 'finalize', 'issued']);
    });

    it('finalizes nothing when beforeFinalize throws, and passes its error on unchanged', async () => {
      const refusal = new Error('the store is down');
      const steps: string[] = [];
      const err = await lab
        .client(pebble.directoryUrl)
        .issue(
          {
            domains: ['hook-fails.test'],
            beforeFinalize: async () => {
              throw refusal;
            },
          },
          (step) => steps.push(step),
        )
        .catch((e: unknown) => e);
      expect(err).toBe(refusal);
      expect(steps).not.toContain('finalize');
    });

    it('uses the key it is given', async () => {
      const given = generateKeyPairSync('ec', { namedCurve: 'P-384' })
        .privateKey.export({ type: 'pkcs8', format: 'pem' })
        .toString();
      const issued = await lab.client(pebble.directoryUrl).issue({ domains: ['key.test'], keyPem: given });
      expect(keyMatchesCertificate(issued.certificatePem, given)).toBe(true);
    });
  });

  describe('errors', () => {
    it.each([
      ['rateLimited', 429, 3600, 'WSFLEET_ACME_RATE_LIMITED', false, 3_600_000],
      ['rejectedIdentifier', 400, undefined, 'WSFLEET_ACME_FAILED', true, undefined],
      ['serverInternal', 500, undefined, 'WSFLEET_ACME_FAILED', false, undefined],
      ['unauthorized', 403, undefined, 'WSFLEET_ACME_FAILED', true, undefined],
    ])(
      'reports an injected %s on newOrder (HTTP %s) at once',
      async (type, status, retryAfterSeconds, code, permanent, retryAfterMs) => {
        ari.failNewOrder({
          type,
          detail: `injected ${type}`,
          status,
          ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
        });
        const started = Date.now();
        const err = await rejection(lab.client(ari.directoryUrl).issue({ domains: ['injected.test'] }));
        expect(err).toMatchObject({
          code,
          type: `urn:ietf:params:acme:error:${type}`,
          detail: `injected ${type}`,
          status,
          permanent,
          retryAfterMs,
        });
        // acme-client's own retries (sleeping Retry-After) are off: the renewer schedules retries.
        expect(Date.now() - started).toBeLessThan(3_000);
      },
    );

    it('reports a compound problem as permanent when a subproblem is', async () => {
      ari.failNewOrder({
        type: 'compound',
        detail: 'some names are refused',
        status: 400,
        subproblems: [
          {
            type: 'urn:ietf:params:acme:error:rejectedIdentifier',
            detail: 'policy forbids',
            identifier: { type: 'dns', value: 'bad.test' },
          },
        ],
      });
      const err = await rejection(lab.client(ari.directoryUrl).issue({ domains: ['ok.test', 'bad.test'] }));
      expect(err.permanent).toBe(true);
      expect(err.subproblems[0]?.identifier?.value).toBe('bad.test');
    });

    it('reports badNonce as transient once the nonce retries run out', async () => {
      // Each badNonce is retried 40 times with the fresh nonce; the 41st is the caller's.
      ari.failNewOrder({ type: 'badNonce', detail: 'JWS has an invalid anti-replay nonce', status: 400 }, 41);
      const err = await rejection(lab.client(ari.directoryUrl).issue({ domains: ['nonce.test'] }));
      expect(err).toMatchObject({
        code: 'WSFLEET_ACME_FAILED',
        type: 'urn:ietf:params:acme:error:badNonce',
        permanent: false,
      });
    });

    it('reports a failed HTTP-01 validation with the name and the CA’s reason', async () => {
      const deaf: Pick<ChallengeServer, 'set' | 'remove'> = { set: () => undefined, remove: () => undefined };
      const err = await rejection(
        lab
          .client(pebble.directoryUrl, memoryStore(), { challenges: deaf })
          .issue({ domains: ['deaf.test'] }),
      );
      expect(err).toMatchObject({
        code: 'WSFLEET_ACME_CHALLENGE_FAILED',
        identifier: 'deaf.test',
        type: 'urn:ietf:params:acme:error:unauthorized',
        permanent: true,
      });
      expect(err.detail).toMatch(/\b404\b/);
    });

    it('passes a store error on unchanged', async () => {
      const down = new WsfleetError('WSFLEET_STORE_UNAVAILABLE', 'bucket unreachable');
      const store = { account: () => Promise.reject(down), saveAccount: () => Promise.reject(down) };
      await expect(lab.client(pebble.directoryUrl, store).issue({ domains: ['x.test'] })).rejects.toBe(down);
    });

    it('reports an unreachable CA as transient, without waiting', async () => {
      const port = await freePort();
      const started = Date.now();
      const err = await rejection(lab.client(`https://127.0.0.1:${port}/dir`).issue({ domains: ['x.test'] }));
      expect(err).toMatchObject({ code: 'WSFLEET_ACME_UNREACHABLE', permanent: false });
      expect(err.detail).toContain('ECONNREFUSED');
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    it('reports a CA that accepts connections but never answers as transient, within the request timeout', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => sockets.add(socket));
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
      try {
        const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/dir`;
        const started = Date.now();
        const err = await rejection(
          lab.client(url, memoryStore(), { requestTimeoutMs: 300 }).issue({ domains: ['x.test'] }),
        );
        expect(err).toMatchObject({ code: 'WSFLEET_ACME_UNREACHABLE', permanent: false });
        expect(err.detail).toMatch(/timeout/);
        expect(Date.now() - started).toBeLessThan(3_000);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });

    it('reports a CA whose certificate it does not trust as unreachable', async () => {
      const err = await rejection(
        lab.client(pebble.directoryUrl, memoryStore(), { agent: undefined }).issue({ domains: ['x.test'] }),
      );
      expect(err).toMatchObject({ code: 'WSFLEET_ACME_UNREACHABLE', permanent: false });
      expect(err.detail).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });
  });

  describe('#renewalInfo', () => {
    let certificatePem: string;
    let certId: string;

    beforeAll(async () => {
      certificatePem = (await lab.client(ari.directoryUrl).issue({ domains: ['ari.test'] })).certificatePem;
      certId = certificateInfo(certificatePem).ariCertId as string;
    });

    it('is undefined when the directory offers no renewalInfo (Pebble 2.4 itself)', async () => {
      expect(await lab.client(pebble.directoryUrl).renewalInfo(certificatePem)).toBeUndefined();
    });

    it('returns the window the CA suggests for the certificate, with its Retry-After', async () => {
      const window = { start: new Date('2030-01-01T00:00:00Z'), end: new Date('2030-01-02T00:00:00Z') };
      ari.setWindow(certId, window, 7200);
      try {
        const before = ari.renewalInfoRequests.length;
        expect(await lab.client(ari.directoryUrl).renewalInfo(certificatePem)).toEqual({
          ...window,
          retryAfterMs: 7_200_000,
        });
        expect(ari.renewalInfoRequests.slice(before)).toEqual([certId]);
      } finally {
        ari.setWindow(certId, undefined);
      }
    });

    it.each([
      [1, 60_000],
      [172_800, 86_400_000],
    ])('clamps a Retry-After of %s s to %s ms', async (seconds, ms) => {
      ari.setWindow('*', { start: new Date(), end: new Date(Date.now() + 3_600_000) }, seconds);
      try {
        expect((await lab.client(ari.directoryUrl).renewalInfo(certificatePem))?.retryAfterMs).toBe(ms);
      } finally {
        ari.setWindow('*', undefined);
      }
    });

    it('trusts the CA through NODE_EXTRA_CA_CERTS in a spawned process, with no agent', async () => {
      ari.setWindow(certId, {
        start: new Date('2031-01-01T00:00:00Z'),
        end: new Date('2031-01-02T00:00:00Z'),
      });
      const code = `
import { createAcmeClient } from ${JSON.stringify(`${ROOT}daemons/renewer/acme.ts`)};
import { createLogger } from ${JSON.stringify(`${ROOT}daemons/shared/logger.ts`)};
const client = createAcmeClient({
  directoryUrl: process.env.DIRECTORY_URL,
  store: { account: async () => undefined, saveAccount: async (a) => a },
  challenges: { set() {}, remove() {} },
  log: createLogger({ name: 'child', level: 'silent' }),
});
const window = await client.renewalInfo(process.env.CERTIFICATE_PEM);
console.log(JSON.stringify(window));
`;
      try {
        const run = (extra: Record<string, string>) =>
          execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
            cwd: ROOT,
            timeout: 20_000,
            env: {
              PATH: process.env.PATH,
              DIRECTORY_URL: ari.directoryUrl,
              CERTIFICATE_PEM: certificatePem,
              ...extra,
            },
          });
        const { stdout } = await run({ NODE_EXTRA_CA_CERTS: pebble.caFile });
        expect(JSON.parse(stdout)).toEqual({
          start: '2031-01-01T00:00:00.000Z',
          end: '2031-01-02T00:00:00.000Z',
        });
        await expect(run({})).rejects.toMatchObject({
          stderr: expect.stringContaining('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
        });
      } finally {
        ari.setWindow(certId, undefined);
      }
    });

    it('is undefined when the CA knows no window for the certificate (404)', async () => {
      expect(await lab.client(ari.directoryUrl).renewalInfo(certificatePem)).toBeUndefined();
    });
  });
});

describe('AcmeClient (against a Pebble that rejects 30% of nonces)', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await startLab({ nonceReject: 30 });
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('still issues: acme-client retries badNonce with the fresh nonce', async () => {
    const client = lab.client(lab.ari.directoryUrl);
    // An issuance is ~10 requests, so one may see no rejection at all (0.7^10 ≈ 3%): issue
    // until Pebble has rejected a nonce, at most 4 times. A request fails only after 6
    // rejections in a row (0.3^6 ≈ 0.07%), about 0.7% of issuances, and then as a transient
    // error that the renewer retries; so does this test, once.
    for (let i = 0; i < 4 && !lab.ari.upstreamProblems.includes('badNonce'); i++) {
      const domains = [`nonce${i}.test`];
      const issued = await client.issue({ domains }).catch(async (err: unknown) => {
        expect(err).toMatchObject({ type: 'urn:ietf:params:acme:error:badNonce', permanent: false });
        return client.issue({ domains });
      });
      expect(certificateInfo(issued.certificatePem).dnsNames).toEqual(domains);
    }
    expect(lab.ari.upstreamProblems).toContain('badNonce');
  });
});

describe('AcmeClient (against a Pebble that rejects 75% of nonces)', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await startLab({ nonceReject: 75 });
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('creates its account and issues every time: each badNonce is retried with the fresh nonce (RFC 8555 §6.5)', async () => {
    // ~10 signed requests per issuance: with only 5 retries, 0.75^6 ≈ 18% of requests fail.
    const client = lab.client(lab.ari.directoryUrl);
    for (let i = 0; i < 3; i++) {
      const domains = [`busy${i}.test`];
      const issued = await client.issue({ domains });
      expect(certificateInfo(issued.certificatePem).dnsNames).toEqual(domains);
    }
    expect(lab.ari.upstreamProblems.filter((p) => p === 'badNonce').length).toBeGreaterThan(5);
  });
});
