/**
 * Obtains certificates from an ACME CA (RFC 8555) with acme-client's lower-level API: account
 * from the store (created once per directory), order, HTTP-01 through our challenge server,
 * finalize with a fresh P-256 key, download. Also reads RFC 9773 renewal information (ARI).
 *
 * acme-client's `auto()` is not used: it first checks each challenge itself over public DNS and
 * hangs on names that only the CA's resolver knows; `self-check.ts` does that check our way.
 *
 * Transport (all through acme-client's axios instance, set once per process, see `install`):
 * - acme-client's own retries are off. They sleep Retry-After, which a CA may set to hours, up to
 *   five times, inside one call; the renewer's schedule retries instead, within its deadlines.
 * - Every request is bounded by `requestTimeoutMs`.
 * - acme-client hands problem documents back as bare Errors holding only the detail, and turns
 *   transport failures into a TypeError (publishlab/node-acme-client#101). So the response
 *   interceptor raises an AcmeError from each problem document as it arrives (but badNonce, which
 *   acme-client retries), and each call runs in an AsyncLocalStorage context where the last
 *   transport error or problem is kept to explain whatever acme-client throws instead. Store
 *   errors and errors of the caller's `beforeFinalize` pass unchanged.
 * - Trust for the CA's HTTPS: Node's default agent (so NODE_EXTRA_CA_CERTS for a spawned
 *   daemon), or the `agent` given here (in-process tests trusting Pebble).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { type Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import * as acme from 'acme-client';
import {
  type CertificateInfo,
  certificateInfo,
  chainProblem,
  keyMatchesCertificate,
} from '../shared/certificate-info.ts';
import { WsfleetError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { AcmeAccount, CertStore } from '../shared/store/cert-store.ts';
import {
  AcmeError,
  type AcmeProblem,
  type AcmeProblemResponse,
  classifyAcmeError,
  httpStatusError,
  isPermanentProblem,
  isProblem,
  parseRetryAfter,
  problemError,
} from './acme-errors.ts';

export interface AcmeClientOptions {
  readonly directoryUrl: string;
  /** Contact for the CA's expiry and policy mail; set when the account is created. */
  readonly email?: string;
  /** External account binding, for CAs that require one (not Let's Encrypt). */
  readonly eab?: { readonly kid: string; readonly hmacKey: string };
  readonly store: Pick<CertStore, 'account' | 'saveAccount'>;
  /** The challenge server itself, or the answers it shares through the store (shared-challenges.ts). */
  readonly challenges: {
    set(token: string, answer: string): void | Promise<void>;
    remove(token: string): void | Promise<void>;
  };
  readonly log: Logger;
  /** Agent for the CA's HTTPS API; default: Node's global agent (system CAs + NODE_EXTRA_CA_CERTS). */
  readonly agent?: Agent;
  /** Bound on each HTTP request to the CA. */
  readonly requestTimeoutMs?: number;
  /** Polling of authorizations and orders (acme-client's backoff): attempts and delays. */
  readonly poll?: { readonly attempts?: number; readonly minMs?: number; readonly maxMs?: number };
}

export interface IssueRequest {
  readonly domains: readonly string[];
  /** ACME profile name (draft-ietf-acme-profiles), sent in newOrder. */
  readonly profile?: string;
  /** RFC 9773 certID of the certificate this one replaces, sent in newOrder. */
  readonly replaces?: string;
  /** Reuse this private key (PEM) instead of generating a fresh P-256 key. */
  readonly keyPem?: string;
  /**
   * Awaited right before finalizing, where the CA issues (e.g. to count the issuance against a
   * rate guard, and to persist the order and its key so that a crash cannot lose what the CA
   * issues). If it throws, nothing is finalized and its error reaches the caller unchanged.
   */
  readonly beforeFinalize?: (order: PendingOrder) => Promise<void>;
}

/** An order about to be finalized: enough to fetch its certificate again after a crash. */
export interface PendingOrder {
  readonly orderUrl: string;
  /** PKCS#8 PEM of the key the CSR is made with. Never logged. */
  readonly keyPem: string;
}

export interface ResumeRequest extends PendingOrder {
  readonly domains: readonly string[];
  /** Awaited before finalizing an order that is still `ready` (the crash came before finalize). */
  readonly beforeFinalize?: () => Promise<void>;
}

export interface Issued {
  /** Leaf first, then the chain the CA sent. */
  readonly certificatePem: string;
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
  /** The ACME account that ordered it: part of the certificate's identity. */
  readonly accountUrl: string;
}

export interface RenewalWindow {
  readonly start: Date;
  readonly end: Date;
  /** When to ask again, from Retry-After (clamped to 1 min – 1 day as RFC 9773 §4.3.3 advises). */
  readonly retryAfterMs?: number;
  readonly explanationUrl?: string;
}

/** Steps reported to `progress`, in order: account, order, authorize (per name), finalize, issued. */
export type IssueProgress = (step: string, fields?: Record<string, unknown>) => void;

export interface AcmeClient {
  issue(request: IssueRequest, progress?: IssueProgress): Promise<Issued>;
  /**
   * Completes an order an earlier process persisted before finalizing it: downloads the
   * certificate of a valid order (no second finalize), finalizes a ready one. Undefined when the
   * order cannot be completed (gone, expired, invalid): the caller orders anew.
   */
  resume(request: ResumeRequest, progress?: IssueProgress): Promise<Issued | undefined>;
  /** The CA's suggested renewal window, or undefined when it offers no ARI or knows no window. */
  renewalInfo(certificatePem: string): Promise<RenewalWindow | undefined>;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const RETRY_AFTER_MIN_MS = 60_000;
const RETRY_AFTER_MAX_MS = 86_400_000;

type NewOrderPayload = Parameters<acme.Client['createOrder']>[0] & {
  readonly profile?: string;
  readonly replaces?: string;
};

type LastFailure =
  | { readonly kind: 'problem'; readonly response: AcmeProblemResponse }
  | { readonly kind: 'transport'; readonly error: unknown };

interface CallContext {
  readonly agent: Agent | undefined;
  readonly timeoutMs: number;
  /** The most recent failed exchange with the CA in this call; cleared by any success. */
  last: LastFailure | undefined;
}

const calls = new AsyncLocalStorage<CallContext>();

/**
 * RFC 8555 §6.5: a badNonce comes with a fresh nonce, and the client retries with it. acme-client
 * does so at most 5 times per request; a loaded CA that rejects most nonces (Pebble's
 * PEBBLE_WFE_NONCEREJECT, or a CA behind a load balancer that lost its nonce store) exhausts that
 * in a fair share of issuances, account creation included. 40 keeps the chance that one request
 * of an issuance fails even at a 75 % rejection rate below 1e-4.
 */
const BAD_NONCE_RETRIES = 40;

function withNonceRetries(client: acme.Client): acme.Client {
  // acme-client keeps the limit on its HttpClient (`http.maxBadNonceRetries`, 5); no option sets it.
  const http = (client as unknown as { http?: { maxBadNonceRetries?: unknown } }).http;
  if (http !== undefined && typeof http.maxBadNonceRetries === 'number')
    http.maxBadNonceRetries = BAD_NONCE_RETRIES;
  return client;
}
let installed = false;

/** Hooks acme-client's shared axios instance; requests outside a call context are untouched. */
function install(): void {
  if (installed) return;
  installed = true;
  const defaults = acme.axios.defaults as { acmeSettings?: Record<string, unknown> };
  defaults.acmeSettings = { ...defaults.acmeSettings, retryMaxAttempts: 0 };
  acme.axios.interceptors.request.use((config) => {
    const ctx = calls.getStore();
    if (ctx === undefined) return config;
    config.timeout = ctx.timeoutMs;
    if (ctx.agent !== undefined) config.httpsAgent = ctx.agent;
    // Node's own http/https (no redirects: ACME endpoints do not redirect), watched for errors,
    // with a deadline for the response headers: axios's timeout is a socket idle timeout, which
    // Node starts only once connected, so a CA that drops SYNs would otherwise hang for minutes.
    config.transport = {
      request(options: RequestOptions, callback: (res: IncomingMessage) => void) {
        const req = (options.protocol === 'http:' ? httpRequest : httpsRequest)(options, callback);
        const deadline = setTimeout(() => {
          const error = Object.assign(new Error(`no response within ${ctx.timeoutMs} ms (timeout)`), {
            code: 'ETIMEDOUT',
          });
          req.destroy(error);
        }, ctx.timeoutMs);
        req.once('response', () => clearTimeout(deadline));
        req.once('close', () => clearTimeout(deadline));
        req.once('error', (error) => {
          ctx.last = { kind: 'transport', error };
        });
        return req;
      },
    };
    return config;
  });
  acme.axios.interceptors.response.use((response) => {
    const ctx = calls.getStore();
    if (ctx === undefined) return response;
    if (response.status < 400) {
      ctx.last = undefined;
      return response;
    }
    const header = response.headers['retry-after'];
    const retryAfter = typeof header === 'string' ? header : undefined;
    const data: unknown = response.data;
    if (!isProblem(data)) throw httpStatusError(response.status, retryAfter, response.config.url);
    const seen = { status: response.status, problem: data, retryAfter, url: response.config.url };
    ctx.last = { kind: 'problem', response: seen };
    // acme-client retries badNonce itself, with the fresh nonce of this very response.
    if (data.type === 'urn:ietf:params:acme:error:badNonce') return response;
    throw problemError(seen);
  });
}

/** The error a call rejects with: the caller's own errors and store errors as they are. */
function failure(err: unknown, ctx: CallContext): Error {
  const last = ctx.last;
  if (err instanceof AcmeError || err instanceof WsfleetError) return err;
  if (last?.kind === 'transport') return classifyAcmeError(last.error);
  return classifyAcmeError(err, last?.response);
}

/**
 * An ACME client for one directory. Nothing is fetched until the first call; the account is
 * loaded from (or created and saved to) the store then, once per client.
 */
export function createAcmeClient(options: AcmeClientOptions): AcmeClient {
  install();
  const { directoryUrl, email, eab, store, challenges, log } = options;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const backoff = {
    backoffAttempts: options.poll?.attempts ?? 10,
    backoffMin: options.poll?.minMs ?? 5_000,
    backoffMax: options.poll?.maxMs ?? 30_000,
  };
  let client: Promise<acme.Client> | undefined;

  /**
   * Runs `fn` with this client's transport settings; failures leave as AcmeError, except those
   * `fn` marks as the caller's own (thrown by a caller's hook), which leave unchanged.
   */
  function call<T>(fn: (own: (err: unknown) => never) => Promise<T>): Promise<T> {
    const ctx: CallContext = { agent: options.agent, timeoutMs, last: undefined };
    const owned = new WeakSet<object>();
    const own = (err: unknown): never => {
      if (typeof err === 'object' && err !== null) owned.add(err);
      throw err;
    };
    return calls.run(ctx, async () => {
      try {
        return await fn(own);
      } catch (err) {
        if (typeof err === 'object' && err !== null && owned.has(err)) throw err;
        throw failure(err, ctx);
      }
    });
  }

  function clientFor(account: AcmeAccount): acme.Client {
    return withNonceRetries(
      new acme.Client({
        directoryUrl,
        accountKey: account.accountKeyPem,
        accountUrl: account.accountUrl,
        ...(eab === undefined ? {} : { externalAccountBinding: eab }),
        ...backoff,
      }),
    );
  }

  async function loadOrCreateAccount(): Promise<acme.Client> {
    const stored = await store.account(directoryUrl);
    if (stored !== undefined) {
      if (email !== undefined && stored.email !== email) {
        log.warn(
          { accountUrl: stored.accountUrl },
          'the stored ACME account has another contact; keeping it',
        );
      }
      return clientFor(stored);
    }
    const accountKey = await acme.crypto.createPrivateEcdsaKey('P-256');
    const fresh = withNonceRetries(
      new acme.Client({
        directoryUrl,
        accountKey,
        ...(eab === undefined ? {} : { externalAccountBinding: eab }),
        ...backoff,
      }),
    );
    // Creating an account means agreeing to the CA's terms; the operator chose the CA.
    await fresh.createAccount({
      termsOfServiceAgreed: true,
      ...(email === undefined ? {} : { contact: [`mailto:${email}`] }),
    });
    const account: AcmeAccount = {
      directoryUrl,
      accountKeyPem: accountKey.toString(),
      accountUrl: fresh.getAccountUrl(),
      ...(email === undefined ? {} : { email }),
      createdAt: new Date().toISOString(),
    };
    const saved = await store.saveAccount(account);
    if (saved.accountUrl !== account.accountUrl) {
      // Another renewer stored its account first: use that one, so there is one per directory.
      log.info(
        { accountUrl: saved.accountUrl, discarded: account.accountUrl },
        'using the ACME account stored by another renewer',
      );
      return clientFor(saved);
    }
    log.info({ accountUrl: account.accountUrl, directoryUrl }, 'ACME account created');
    return fresh;
  }

  function accountClient(): Promise<acme.Client> {
    client ??= loadOrCreateAccount().catch((err: unknown) => {
      client = undefined; // the next call tries again
      throw err;
    });
    return client;
  }

  async function authorize(
    acmeClient: acme.Client,
    order: acme.Order,
    progress: IssueProgress | undefined,
  ): Promise<void> {
    const authorizations = await acmeClient.getAuthorizations(order);
    const pending = authorizations.filter((authz) => authz.status !== 'valid');
    for (const authz of authorizations) {
      if (authz.status === 'valid')
        log.debug({ domain: authz.identifier.value }, 'authorization still valid');
    }
    const tokens: string[] = [];
    try {
      for (const authz of pending) {
        const domain = authz.identifier.value;
        if (authz.status !== 'pending') {
          throw new AcmeError('WSFLEET_ACME_CHALLENGE_FAILED', {
            detail: `authorization for ${domain} is ${authz.status}`,
            identifier: domain,
            permanent: false,
          });
        }
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (challenge === undefined) {
          throw new AcmeError('WSFLEET_ACME_CHALLENGE_FAILED', {
            detail: `the CA offers no http-01 challenge for ${domain} (offered: ${authz.challenges.map((c) => c.type).join(', ')})`,
            identifier: domain,
            permanent: true,
          });
        }
        const answer = await acmeClient.getChallengeKeyAuthorization(challenge);
        // Listed first: a set that fails half way (served here, not stored) is still undone.
        tokens.push(challenge.token);
        await challenges.set(challenge.token, answer);
        progress?.('authorize', { domain });
        await acmeClient.completeChallenge(challenge);
      }
      // Validations run at the CA in parallel; wait for every one so none outlives its token.
      const results = await Promise.allSettled(pending.map((authz) => acmeClient.waitForValidStatus(authz)));
      const failed = results.findIndex((r) => r.status === 'rejected');
      if (failed !== -1) {
        const reason = (results[failed] as PromiseRejectedResult).reason as unknown;
        throw (await challengeError(acmeClient, order, pending[failed] as acme.Authorization)) ?? reason;
      }
    } finally {
      await Promise.all(tokens.map((token) => challenges.remove(token)));
    }
  }

  /** Why an authorization failed, from the challenge error the CA recorded (RFC 8555 §7.1.5). */
  async function challengeError(
    acmeClient: acme.Client,
    order: acme.Order,
    authz: acme.Authorization,
  ): Promise<AcmeError | undefined> {
    try {
      const fresh = (await acmeClient.getAuthorizations(order)).find((a) => a.url === authz.url);
      const problem = fresh?.challenges.map((c) => c.error).find(isProblem) as AcmeProblem | undefined;
      if (fresh === undefined || problem === undefined) return undefined;
      return new AcmeError('WSFLEET_ACME_CHALLENGE_FAILED', {
        type: problem.type,
        detail: problem.detail ?? `authorization for ${fresh.identifier.value} is ${fresh.status}`,
        status: problem.status,
        identifier: fresh.identifier.value,
        permanent: isPermanentProblem(problem),
      });
    } catch {
      return undefined;
    }
  }

  async function createOrder(
    acmeClient: acme.Client,
    request: IssueRequest,
    domains: string[],
  ): Promise<acme.Order> {
    try {
      return await acmeClient.createOrder(newOrderPayload(domains, request.profile, request.replaces));
    } catch (err) {
      // RFC 9773 §5: the replaced certificate was already replaced (by an earlier order of ours
      // that did not finish, or by hand). Order without the hint rather than not at all.
      if (err instanceof AcmeError && err.shortType === 'alreadyReplaced' && request.replaces !== undefined) {
        log.warn({ domains, replaces: request.replaces, detail: err.detail }, 'ordering without `replaces`');
        return acmeClient.createOrder(newOrderPayload(domains, request.profile, undefined));
      }
      throw err;
    }
  }

  async function issue(request: IssueRequest, progress?: IssueProgress): Promise<Issued> {
    const domains = [...new Set(request.domains.map((d) => d.trim().toLowerCase()))];
    if (domains.length === 0 || domains.some((d) => d === ''))
      throw new RangeError('issue() needs at least one domain');
    const started = Date.now();
    return call(async (own) => {
      progress?.('account');
      const acmeClient = await accountClient();
      progress?.('order', { domains });
      let order = await createOrder(acmeClient, request, domains);
      log.debug({ domains, orderUrl: order.url, status: order.status }, 'order created');
      if (order.status === 'invalid') {
        throw new AcmeError('WSFLEET_ACME_FAILED', {
          detail: `order ${order.url} is invalid`,
          permanent: false,
        });
      }
      if (order.status === 'pending') await authorize(acmeClient, order, progress);
      // Ready (or already valid). acme-client returns the polled object without its URL.
      order = { ...(await acmeClient.waitForValidStatus(order)), url: order.url };

      const keyPem = createPrivateKey(
        request.keyPem ?? (await acme.crypto.createPrivateEcdsaKey('P-256')).toString(),
      )
        .export({ type: 'pkcs8', format: 'pem' })
        .toString();
      if (order.status === 'ready')
        await request.beforeFinalize?.({ orderUrl: order.url, keyPem }).catch(own);
      return complete(acmeClient, order, keyPem, domains, started, progress);
    });
  }

  /** Finalizes a ready order (a valid one already is), downloads and checks the certificate. */
  async function complete(
    acmeClient: acme.Client,
    order: acme.Order,
    keyPem: string,
    domains: string[],
    started: number,
    progress: IssueProgress | undefined,
  ): Promise<Issued> {
    progress?.('finalize');
    const [, csr] = await acme.crypto.createCsr(
      // A CN holds at most 64 characters; longer names live in the SAN only.
      {
        ...((domains[0] as string).length <= 64 ? { commonName: domains[0] } : {}),
        altNames: [...domains],
      },
      keyPem,
    );
    const finalized = order.status === 'valid' ? order : await acmeClient.finalizeOrder(order, csr);
    const certificatePem = await acmeClient.getCertificate(finalized);
    const info = verifyIssued(certificatePem, keyPem, domains);
    progress?.('issued', { serial: info.serial, notAfter: info.notAfter.toISOString() });
    log.info(
      {
        domains,
        serial: info.serial,
        notAfter: info.notAfter,
        issuer: info.issuer,
        durationMs: Date.now() - started,
      },
      'certificate issued',
    );
    return { certificatePem, privateKeyPem: keyPem, accountUrl: acmeClient.getAccountUrl() };
  }

  async function resume(request: ResumeRequest, progress?: IssueProgress): Promise<Issued | undefined> {
    const domains = [...new Set(request.domains.map((d) => d.trim().toLowerCase()))];
    const started = Date.now();
    return call(async (own) => {
      progress?.('account');
      const acmeClient = await accountClient();
      progress?.('resume', { orderUrl: request.orderUrl });
      let order: acme.Order;
      try {
        order = {
          ...(await acmeClient.getOrder({ url: request.orderUrl } as acme.Order)),
          url: request.orderUrl,
        };
      } catch (err) {
        // Gone or not ours (another account): nothing to complete.
        if (err instanceof AcmeError && (err.status === 404 || err.status === 403 || err.status === 401)) {
          log.warn(
            { orderUrl: request.orderUrl, detail: err.detail },
            'the pending order is gone; ordering anew',
          );
          return undefined;
        }
        throw err;
      }
      if (order.status === 'processing')
        order = { ...(await acmeClient.waitForValidStatus(order)), url: request.orderUrl };
      if (order.status !== 'valid' && order.status !== 'ready') {
        log.warn(
          { orderUrl: request.orderUrl, status: order.status },
          'the pending order cannot be completed; ordering anew',
        );
        return undefined;
      }
      if (order.status === 'ready') await request.beforeFinalize?.().catch(own);
      return complete(acmeClient, order, request.keyPem, domains, started, progress);
    });
  }

  async function renewalInfo(certificatePem: string): Promise<RenewalWindow | undefined> {
    const certId = certificateInfo(certificatePem).ariCertId;
    if (certId === undefined) return undefined; // no AKI: no ARI identifier (RFC 9773 §4.1)
    return call(async () => {
      // validateStatus null: every status reaches the interceptor, which raises CA problems.
      const directory: unknown = (await acme.axios.get<unknown>(directoryUrl, { validateStatus: null })).data;
      const base = (directory as { renewalInfo?: unknown } | null)?.renewalInfo;
      if (typeof base !== 'string') return undefined;
      const url = `${base.replace(/\/+$/, '')}/${certId}`;
      let response: Awaited<ReturnType<typeof acme.axios.get<unknown>>>;
      try {
        response = await acme.axios.get<unknown>(url, { validateStatus: null });
      } catch (err) {
        if (err instanceof AcmeError && err.status === 404) {
          log.info({ certId }, 'the CA has no renewal information for this certificate');
          return undefined;
        }
        throw err;
      }
      const header = response.headers['retry-after'];
      const retryAfterMs = parseRetryAfter(typeof header === 'string' ? header : undefined);
      return parseWindow(response.data, url, retryAfterMs);
    });
  }

  return { issue, resume, renewalInfo };
}

/** acme-client sends the payload as given, so `profile` and `replaces` reach newOrder. */
function newOrderPayload(domains: readonly string[], profile?: string, replaces?: string): NewOrderPayload {
  return {
    identifiers: domains.map((value) => ({ type: 'dns', value })),
    ...(profile === undefined ? {} : { profile }),
    ...(replaces === undefined ? {} : { replaces }),
  };
}

function parseWindow(body: unknown, url: string, retryAfterMs: number | undefined): RenewalWindow {
  const window = (body as { suggestedWindow?: { start?: unknown; end?: unknown } } | null)?.suggestedWindow;
  const start = typeof window?.start === 'string' ? new Date(window.start) : undefined;
  const end = typeof window?.end === 'string' ? new Date(window.end) : undefined;
  if (
    start === undefined ||
    end === undefined ||
    Number.isNaN(start.getTime()) ||
    Number.isNaN(end.getTime()) ||
    end < start
  ) {
    throw new AcmeError('WSFLEET_ACME_FAILED', {
      detail: `renewal information from ${url} has no valid suggestedWindow`,
      permanent: false,
    });
  }
  const explanation = (body as { explanationURL?: unknown }).explanationURL;
  return {
    start,
    end,
    ...(retryAfterMs === undefined
      ? {}
      : { retryAfterMs: Math.min(RETRY_AFTER_MAX_MS, Math.max(RETRY_AFTER_MIN_MS, retryAfterMs)) }),
    ...(typeof explanation === 'string' ? { explanationUrl: explanation } : {}),
  };
}

/** The CA's answer must be what we asked for before anyone stores it. */
function verifyIssued(
  certificatePem: string,
  privateKeyPem: string,
  domains: readonly string[],
): CertificateInfo {
  const info = certificateInfo(certificatePem);
  const problem =
    chainProblem(certificatePem) ??
    (keyMatchesCertificate(certificatePem, privateKeyPem)
      ? undefined
      : 'the certificate is not for our key') ??
    (domains.every((d) => info.dnsNames.includes(d))
      ? undefined
      : `the certificate names ${info.dnsNames.join(', ')}, not ${domains.join(', ')}`);
  if (problem !== undefined) {
    throw new AcmeError('WSFLEET_ACME_FAILED', {
      detail: `the CA returned an unusable certificate: ${problem}`,
      permanent: false,
    });
  }
  return info;
}
