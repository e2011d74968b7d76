/**
 * Keeping certificates renewed, in the shape of certmagic's obtain flow: decide whether one is
 * due; take the store's issuance lease; re-read the store inside it (another renewer may have
 * just done the work); check the rate guard and that every name reaches us; order; write the
 * new certificate and key to the store before anything else; release the lease in `finally`.
 */
import { ERROR_CODES, type ErrorCode } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type {
  CertificateVersion,
  CertStore,
  CurrentCertificate,
  Lease,
  RenewerState,
} from '../shared/store/cert-store.ts';
import type { CertificateSpec } from './config.ts';
import type { RenewerMetrics } from './metrics.ts';
import { nextAllowedIssuance, recordIssuance } from './rate-guard.ts';
import { type Decision, decide, pickInWindow } from './renewal-window.ts';
import { retryDelay } from './retry-policy.ts';

export interface Issued {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export interface IssueRequest {
  readonly domains: readonly string[];
  readonly profile?: string;
  /** ARI certID of the certificate this one replaces (RFC 9773 §5). */
  readonly replaces?: string;
  /** Awaited right before the order is finalized (where a certificate gets issued). */
  readonly beforeFinalize?: () => Promise<void>;
}

export interface RenewalInfo {
  readonly start: Date;
  readonly end: Date;
  readonly retryAfterMs?: number;
}

/** The part of the ACME client the renewer needs. */
export interface Acme {
  issue(
    request: IssueRequest,
    progress?: (step: string, fields?: Record<string, unknown>) => void,
  ): Promise<Issued>;
  renewalInfo(certificatePem: string): Promise<RenewalInfo | undefined>;
}

export type SelfCheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly stage: string; readonly detail: string };

/** Facts read from an issued chain. */
export interface ChainInfo {
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly domains: readonly string[];
  readonly issuer: string;
  readonly ariCertId: string;
}

export interface RenewerDeps {
  readonly store: CertStore;
  readonly acme: Acme;
  readonly log: Logger;
  readonly metrics: RenewerMetrics;
  readonly inspect: (certificatePem: string, privateKeyPem: string) => ChainInfo;
  readonly selfCheck?: (domain: string) => Promise<SelfCheckResult>;
  readonly now?: () => Date;
  readonly random?: () => number;
}

export interface RenewerSettings {
  readonly directoryUrl: string;
  readonly owner: string;
  readonly leaseMs: number;
  readonly profile?: string;
}

export type Outcome =
  | { readonly name: string; readonly result: 'renewed'; readonly serial: string; readonly notAfter: string }
  | { readonly name: string; readonly result: 'not_due'; readonly due: string }
  | { readonly name: string; readonly result: 'locked' }
  | { readonly name: string; readonly result: 'dry_run'; readonly reason: string }
  | {
      readonly name: string;
      readonly result: 'failed';
      readonly code: string;
      readonly message: string;
      readonly retryAt?: string;
    };

export interface ProgressEvent {
  readonly name: string;
  readonly step: string;
  readonly [field: string]: unknown;
}

export interface CheckOptions {
  readonly force?: boolean;
  readonly dryRun?: boolean;
  readonly progress?: (event: ProgressEvent) => void;
}

/** A renewal step that failed in a way the retry policy understands. */
export class RenewalError extends Error {
  readonly code: string;
  readonly permanent: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(
    code: string,
    message: string,
    options: { permanent?: boolean; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'RenewalError';
    this.code = code;
    this.permanent = options.permanent ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** What the retry policy needs from any error: ACME errors carry these fields already. */
function asRenewalError(err: unknown): RenewalError {
  if (err instanceof RenewalError) return err;
  const e = err as { code?: unknown; message?: unknown; permanent?: unknown; retryAfterMs?: unknown };
  return new RenewalError(
    typeof e?.code === 'string' && e.code in ERROR_CODES ? (e.code as ErrorCode) : 'WSFLEET_RENEWAL_FAILED',
    typeof e?.message === 'string' ? e.message : String(err),
    {
      permanent: e?.permanent === true,
      ...(typeof e?.retryAfterMs === 'number' ? { retryAfterMs: e.retryAfterMs } : {}),
      cause: err,
    },
  );
}

const STORE_WRITE_ATTEMPTS = 4;
const STORE_WRITE_BACKOFF_MS = [1_000, 5_000, 15_000];

export interface Renewer {
  /** Checks one certificate and renews it when due (or forced). Never throws. */
  check(spec: CertificateSpec, options?: CheckOptions): Promise<Outcome>;
  /** When `check` should next run for this certificate (due time or retry time). */
  nextCheck(name: string): Date | undefined;
}

export function createRenewer(settings: RenewerSettings, deps: RenewerDeps): Renewer {
  const log = deps.log.child({ component: 'renewer' });
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const { store, acme, metrics } = deps;
  /** Per certificate: the time picked in the current ARI window, and when to check next. */
  const ariPicks = new Map<string, { window: string; at: Date }>();
  const next = new Map<string, Date>();

  async function ariTime(name: string, current: CurrentCertificate | undefined): Promise<Date | undefined> {
    if (current === undefined) return undefined;
    try {
      const info = await acme.renewalInfo(current.certificate.certificatePem);
      if (info === undefined) return undefined;
      const key = `${info.start.toISOString()}/${info.end.toISOString()}`;
      const picked = ariPicks.get(name);
      if (picked?.window === key) return picked.at;
      const at = pickInWindow(info, random);
      ariPicks.set(name, { window: key, at });
      log.info({ name, windowStart: info.start, windowEnd: info.end, at }, 'ARI renewal window');
      return at;
    } catch (err) {
      log.warn({ err, name }, 'ARI lookup failed; using the lifetime rule');
      return undefined;
    }
  }

  function decision(
    spec: CertificateSpec,
    current: CurrentCertificate | undefined,
    ari: Date | undefined,
    force: boolean,
  ) {
    const c = current?.certificate;
    return decide({
      now: now(),
      domains: spec.domains,
      force,
      ...(c === undefined
        ? {}
        : {
            current: { notBefore: new Date(c.notBefore), notAfter: new Date(c.notAfter), domains: c.domains },
          }),
      ...(ari === undefined ? {} : { ariTime: ari }),
    });
  }

  function observe(name: string, current: CurrentCertificate | undefined, d: Decision): void {
    if (current === undefined) {
      metrics.ready.set({ name }, 0);
      return;
    }
    const notAfter = new Date(current.certificate.notAfter);
    metrics.expiry.set({ name }, notAfter.getTime() / 1000);
    metrics.renewalTime.set({ name }, d.at.getTime() / 1000);
    metrics.ready.set({ name }, notAfter.getTime() > now().getTime() && d.reason !== 'names_changed' ? 1 : 0);
  }

  async function saveState(name: string, state: RenewerState): Promise<void> {
    try {
      await store.saveState(name, state);
    } catch (err) {
      log.warn({ err, name }, 'could not save renewer state');
    }
  }

  async function publishStoreFirst(
    version: CertificateVersion,
    expected: string | undefined,
  ): Promise<CurrentCertificate> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await store.publish(version, expected);
      } catch (err) {
        const code = (err as { code?: string }).code;
        const delayMs = STORE_WRITE_BACKOFF_MS[attempt - 1];
        // A lost race is final: another renewer stored a certificate meanwhile.
        if (code === 'WSFLEET_STORE_PRECONDITION' || attempt >= STORE_WRITE_ATTEMPTS || delayMs === undefined)
          throw err;
        log.warn(
          { err, name: version.name, attempt, delayMs },
          'store write failed; the certificate is kept in memory and retried',
        );
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }

  async function renewLocked(
    spec: CertificateSpec,
    before: CurrentCertificate | undefined,
    options: CheckOptions,
    emit: (step: string, fields?: Record<string, unknown>) => void,
  ): Promise<Outcome> {
    const { name } = spec;
    // Re-check inside the lease: another renewer may have stored a fresh certificate.
    const current = await store.current(name);
    if (current?.generation !== before?.generation && !options.force) {
      const d = decision(spec, current, await ariTime(name, current), false);
      if (!d.due) {
        next.set(name, d.at);
        emit('already_renewed', { serial: current?.certificate.serial });
        return { name, result: 'not_due', due: d.at.toISOString() };
      }
    }
    const state = (await store.state(name)) ?? { failures: 0 };
    const allowed = nextAllowedIssuance(state.finalizedAt ?? [], now());
    if (allowed !== undefined) {
      throw new RenewalError(
        'WSFLEET_RATE_GUARD',
        `${name} already got 2 certificates in the last 7 days; next allowed at ${allowed.toISOString()}`,
        { retryAfterMs: allowed.getTime() - now().getTime() },
      );
    }
    if (deps.selfCheck !== undefined) {
      for (const domain of spec.domains) {
        emit('self_check', { domain });
        const result = await deps.selfCheck(domain);
        if (!result.ok) {
          throw new RenewalError('WSFLEET_SELF_CHECK', `${domain}: ${result.stage}: ${result.detail}`);
        }
      }
    }
    if (options.dryRun) {
      emit('dry_run', { domains: spec.domains });
      return { name, result: 'dry_run', reason: 'every check passed; no order placed' };
    }
    let finalizedAt = state.finalizedAt ?? [];
    const replaces = current?.certificate.ariCertId;
    const issued = await acme.issue(
      {
        domains: spec.domains,
        ...(settings.profile === undefined ? {} : { profile: settings.profile }),
        ...(replaces === undefined ? {} : { replaces }),
        beforeFinalize: async () => {
          // Recorded before the CA can issue, so the guard counts even a certificate we never store.
          finalizedAt = recordIssuance(finalizedAt, now());
          await store.saveState(name, { ...state, finalizedAt });
        },
      },
      (step, fields) => emit(step, fields),
    );
    const info = deps.inspect(issued.certificatePem, issued.privateKeyPem);
    const version: CertificateVersion = {
      name,
      domains: spec.domains,
      certificatePem: issued.certificatePem,
      privateKeyPem: issued.privateKeyPem,
      serial: info.serial,
      notBefore: info.notBefore.toISOString(),
      notAfter: info.notAfter.toISOString(),
      issuer: info.issuer,
      issuedAt: now().toISOString(),
      directoryUrl: settings.directoryUrl,
      ariCertId: info.ariCertId,
    };
    emit('store', { serial: info.serial });
    const stored = await publishStoreFirst(version, current?.generation);
    const at = now().toISOString();
    await saveState(name, { lastAttemptAt: at, lastSuccessAt: at, failures: 0, finalizedAt });
    metrics.issued.inc({ name });
    metrics.lastSuccess.set({ name }, Date.parse(at) / 1000);
    ariPicks.delete(name);
    const following = decision(spec, stored, undefined, false);
    observe(name, stored, following);
    next.set(name, following.at);
    log.info(
      { name, serial: info.serial, notAfter: version.notAfter, domains: spec.domains },
      'certificate renewed and stored',
    );
    return { name, result: 'renewed', serial: info.serial, notAfter: version.notAfter };
  }

  async function failed(spec: CertificateSpec, err: unknown): Promise<Outcome> {
    const { name } = spec;
    const e = asRenewalError(err);
    const previous = (await store.state(name).catch(() => undefined)) ?? { failures: 0 };
    const beforeOrder = e.code === 'WSFLEET_SELF_CHECK';
    // The CA's back-off counts the CA's failures: after a streak of failed self-checks (DNS set
    // late) the first failure that reached the CA is the first of its schedule, not the 121st.
    const afterSelfChecks = !beforeOrder && previous.lastError?.code === 'WSFLEET_SELF_CHECK';
    const failures = afterSelfChecks ? 1 : previous.failures + 1;
    const delay = retryDelay(
      {
        failures,
        permanent: e.permanent,
        beforeOrder,
        ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
      },
      random,
    );
    const at = now();
    const retryAt = delay === undefined ? undefined : new Date(at.getTime() + delay);
    if (retryAt === undefined) next.delete(name);
    else next.set(name, retryAt);
    metrics.failures.inc({ name, reason: e.code });
    log.error(
      { name, code: e.code, err: e.cause ?? e, failures, permanent: e.permanent, retryAt },
      retryAt === undefined
        ? 'renewal failed permanently; not retrying until asked'
        : 'renewal failed; will retry',
    );
    await saveState(name, {
      ...previous,
      lastAttemptAt: at.toISOString(),
      failures,
      lastError: { code: e.code, message: e.message, at: at.toISOString() },
      ...(retryAt === undefined ? { nextAttemptAt: undefined } : { nextAttemptAt: retryAt.toISOString() }),
    });
    return {
      name,
      result: 'failed',
      code: e.code,
      message: e.message,
      ...(retryAt === undefined ? {} : { retryAt: retryAt.toISOString() }),
    };
  }

  return {
    nextCheck: (name) => next.get(name),
    async check(spec, options = {}) {
      const { name } = spec;
      const emit = (step: string, fields: Record<string, unknown> = {}) => {
        log.debug({ name, step, ...fields }, 'renewal step');
        options.progress?.({ name, step, ...fields });
      };
      let lease: Lease | undefined;
      let keepAlive: NodeJS.Timeout | undefined;
      try {
        emit('check');
        const current = await store.current(name);
        const d = decision(spec, current, await ariTime(name, current), options.force === true);
        observe(name, current, d);
        if (!d.due) {
          next.set(name, d.at);
          emit('not_due', { due: d.at.toISOString() });
          return { name, result: 'not_due', due: d.at.toISOString() };
        }
        emit('due', { reason: d.reason });
        lease = await store.lock(name, settings.owner, settings.leaseMs);
        if (lease === undefined) {
          emit('locked');
          log.info({ name }, 'another renewer holds the issuance lease');
          next.set(name, new Date(now().getTime() + settings.leaseMs));
          return { name, result: 'locked' };
        }
        const held = lease;
        keepAlive = setInterval(() => {
          held.renew().catch((err: unknown) => log.error({ err, name }, 'issuance lease lost'));
        }, settings.leaseMs / 3);
        keepAlive.unref();
        return await renewLocked(spec, current, options, emit);
      } catch (err) {
        return failed(spec, err);
      } finally {
        clearInterval(keepAlive);
        await lease
          ?.release()
          .catch((err: unknown) => log.warn({ err, name }, 'could not release the lease'));
      }
    },
  };
}
