/**
 * Keeping certificates renewed, in the shape of certmagic's obtain flow: decide whether one is
 * due (a certificate of another directory or account is due at once); honour the stored backoff;
 * take the store's issuance lease; re-read the store inside it (another renewer may have just
 * done the work); check the rate guard and that every name reaches us; order; renew the lease
 * right before finalize and before publish (the lease is the fencing token: a holder that
 * stalled past its expiry gives up instead of issuing a second certificate); write the new
 * certificate and key to the store before anything else; release the lease in `finally`.
 */
import { randomBytes } from 'node:crypto';
import { ERROR_CODES, type ErrorCode } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type {
  CertificateVersion,
  CertStore,
  CurrentCertificate,
  Lease,
  RenewerState,
} from '../shared/store/cert-store.ts';
import { heldBack, settingsKey } from './backoff.ts';
import type { CertificateSpec } from './config.ts';
import type { RenewerMetrics } from './metrics.ts';
import { type Track, track } from './on-track.ts';
import { issuanceLimit, nextAllowedIssuance, recordIssuance } from './rate-guard.ts';
import { type Decision, decide, pickInWindow, sameNames } from './renewal-window.ts';
import { retryDelay } from './retry-policy.ts';

export interface Issued {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** The ACME account that ordered it. */
  readonly accountUrl?: string;
}

export interface IssueRequest {
  readonly domains: readonly string[];
  readonly profile?: string;
  /** ARI certID of the certificate this one replaces (RFC 9773 §5). */
  readonly replaces?: string;
  /** Awaited right before the order is finalized (where a certificate gets issued). */
  readonly beforeFinalize?: (order: { readonly orderUrl: string; readonly keyPem: string }) => Promise<void>;
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
  /** Completes a persisted order; undefined when it cannot be (the caller orders anew). */
  resume?(
    request: {
      readonly orderUrl: string;
      readonly keyPem: string;
      readonly domains: readonly string[];
      readonly beforeFinalize?: () => Promise<void>;
    },
    progress?: (step: string, fields?: Record<string, unknown>) => void,
  ): Promise<Issued | undefined>;
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
  /** This renewer's name in issuance leases; a random suffix makes it unique per process start. */
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
      /** Not tried: an earlier failure's backoff holds (until `retryAt`, or for good). */
      readonly name: string;
      readonly result: 'backoff';
      readonly code: string;
      readonly message: string;
      readonly retryAt?: string;
    }
  | {
      /** Not tried: the rate guard allows no further certificate before `nextAllowed`. */
      readonly name: string;
      readonly result: 'rate_limited';
      readonly message: string;
      readonly nextAllowed: string;
    }
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
  /** Renew even when not due, and despite a stored backoff (not despite the rate guard). */
  readonly force?: boolean;
  /** Issue even when the rate guard would refuse. */
  readonly ignoreRateGuard?: boolean;
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

/**
 * Versions kept per certificate: the current one and a few before it (to roll back by hand);
 * older ones, each with its private key, are deleted after every new certificate.
 */
export const VERSIONS_KEPT = 5;

const STORE_WRITE_ATTEMPTS = 4;
const STORE_WRITE_BACKOFF_MS = [1_000, 5_000, 15_000];

export interface Renewer {
  /** Checks one certificate and renews it when due (or forced). Never throws. */
  check(spec: CertificateSpec, options?: CheckOptions): Promise<Outcome>;
  /** When `check` should next run for this certificate (due time or retry time). */
  nextCheck(name: string): Date | undefined;
  /** Whether each checked certificate is on track, as of its last check (on-track.ts). */
  tracks(): ReadonlyMap<string, Track>;
}

export function createRenewer(settings: RenewerSettings, deps: RenewerDeps): Renewer {
  const log = deps.log.child({ component: 'renewer' });
  const now = deps.now ?? (() => new Date());
  const random = deps.random ?? Math.random;
  const { store, acme, metrics } = deps;
  // Unique per process start: a restarted renewer must not mistake a lease of its previous life
  // (which may still be finishing an order) for its own.
  const owner = `${settings.owner}#${randomBytes(4).toString('hex')}`;
  /** Per certificate: the time picked in the current ARI window, and when to check next. */
  const ariPicks = new Map<string, { window: string; at: Date }>();
  const next = new Map<string, Date>();
  const tracks = new Map<string, Track>();

  /** Re-reads the store after a check: what an operator (and an alert) sees. */
  async function updateTrack(spec: CertificateSpec): Promise<void> {
    let t: Track;
    try {
      const [current, state] = await Promise.all([store.current(spec.name), store.state(spec.name)]);
      t = track({
        now: now(),
        ...(current === undefined ? {} : { certificate: current.certificate }),
        ...(state === undefined ? {} : { state }),
        domains: spec.domains,
        directoryUrl: settings.directoryUrl,
      });
    } catch (err) {
      t = { onTrack: false, reason: `the store could not be read: ${(err as Error).message}` };
    }
    tracks.set(spec.name, t);
    metrics.onTrack.set({ name: spec.name }, t.onTrack ? 1 : 0);
  }

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

  /** True when the stored certificate came from another directory or ACME account. */
  async function issuedElsewhere(current: CurrentCertificate | undefined): Promise<boolean> {
    const c = current?.certificate;
    if (c === undefined) return false;
    if (c.directoryUrl !== settings.directoryUrl) return true;
    if (c.accountUrl === undefined) return false;
    const account = await store.account(settings.directoryUrl);
    return account !== undefined && account.accountUrl !== c.accountUrl;
  }

  function decision(
    spec: CertificateSpec,
    current: CurrentCertificate | undefined,
    ari: Date | undefined,
    force: boolean,
    elsewhere = false,
  ) {
    const c = current?.certificate;
    return decide({
      now: now(),
      domains: spec.domains,
      force,
      issuedElsewhere: elsewhere,
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
    const usable = d.reason !== 'names_changed' && d.reason !== 'issuer_changed';
    metrics.ready.set({ name }, notAfter.getTime() > now().getTime() && usable ? 1 : 0);
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
    due: Decision,
    lease: Lease,
    options: CheckOptions,
    emit: (step: string, fields?: Record<string, unknown>) => void,
  ): Promise<Outcome> {
    const { name } = spec;
    // Re-check inside the lease: another renewer may have stored a fresh certificate.
    let current = before;
    let reason = due.reason;
    const reread = await store.current(name);
    if (reread?.generation !== before?.generation) {
      current = reread;
      const d = decision(spec, current, await ariTime(name, current), false, await issuedElsewhere(current));
      if (!d.due && !options.force) {
        next.set(name, d.at);
        emit('already_renewed', { serial: current?.certificate.serial });
        return { name, result: 'not_due', due: d.at.toISOString() };
      }
      if (d.due) reason = d.reason;
    }
    const elsewhere = await issuedElsewhere(current);
    const key = settingsKey(settings.directoryUrl, spec.domains, settings.profile);
    const state = (await store.state(name)) ?? { failures: 0 };
    // An order finalized (and counted) before a crash is completed, not placed again.
    const resumed = options.dryRun ? undefined : await resumePending(spec, state, current, lease, emit);
    if (resumed !== undefined) return resumed;
    const c = current?.certificate;
    const limit = issuanceLimit(
      c === undefined || elsewhere ? undefined : Date.parse(c.notAfter) - Date.parse(c.notBefore),
    );
    // Finalize calls to another directory do not count: its limits are its own, and a switch from
    // staging to production must not be refused for the certificates staging issued.
    const counted =
      state.finalizedWith === undefined || state.finalizedWith === settings.directoryUrl
        ? (state.finalizedAt ?? [])
        : [];
    const allowed = nextAllowedIssuance(counted, now(), limit);
    // A renewal the CA asked for (ARI) is counted but never refused: the CA knows its limits.
    if (allowed !== undefined && reason !== 'ari' && !options.ignoreRateGuard) {
      const message = `${name} already got ${limit} certificates in the last 7 days (the limit for its lifetime); the next is allowed at ${allowed.toISOString()}`;
      await saveState(name, {
        ...state,
        settingsKey: key,
        lastError: { code: 'WSFLEET_RATE_GUARD', message, at: now().toISOString() },
        nextAttemptAt: allowed.toISOString(),
      });
      next.set(name, allowed);
      emit('rate_guard', { nextAllowed: allowed.toISOString() });
      log.warn({ name, limit, nextAllowed: allowed }, 'rate guard: no certificate ordered');
      return { name, result: 'rate_limited', message, nextAllowed: allowed.toISOString() };
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
    let finalizedAt = counted;
    // A certificate of another directory or account is unknown to this CA: `replaces` naming it
    // would be refused (RFC 9773 §5), so it is ordered as a new one.
    const replaces = elsewhere ? undefined : c?.ariCertId || undefined;
    if (elsewhere)
      log.info(
        { name, from: c?.directoryUrl, to: settings.directoryUrl },
        'the current certificate comes from another directory or account; ordering a new one',
      );
    const issued = await acme.issue(
      {
        domains: spec.domains,
        ...(settings.profile === undefined ? {} : { profile: settings.profile }),
        ...(replaces === undefined ? {} : { replaces }),
        beforeFinalize: async ({ orderUrl, keyPem }) => {
          // Fencing: still the lease holder right now, or no certificate is issued.
          await lease.renew();
          // Recorded before the CA can issue, so the guard counts even a certificate we never
          // store, and the order with its key, so that a crash cannot lose what it issues.
          finalizedAt = recordIssuance(finalizedAt, now());
          await store.saveState(name, {
            ...state,
            finalizedAt,
            finalizedWith: settings.directoryUrl,
            pending: {
              orderUrl,
              keyPem,
              directoryUrl: settings.directoryUrl,
              domains: [...spec.domains],
              at: now().toISOString(),
            },
          });
        },
      },
      (step, fields) => emit(step, fields),
    );
    return storeIssued(spec, issued, current, lease, finalizedAt, emit);
  }

  /**
   * Stores what the CA issued (fenced by the lease), then a fresh state: no failure, no pending
   * order. A certificate that is current already (a crash after publishing, before the state was
   * written) is not stored twice.
   */
  async function storeIssued(
    spec: CertificateSpec,
    issued: Issued,
    current: CurrentCertificate | undefined,
    lease: Lease,
    finalizedAt: readonly string[],
    emit: (step: string, fields?: Record<string, unknown>) => void,
  ): Promise<Outcome> {
    const { name } = spec;
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
      ...(issued.accountUrl === undefined ? {} : { accountUrl: issued.accountUrl }),
      ariCertId: info.ariCertId,
    };
    emit('store', { serial: info.serial });
    // Fencing again: a holder that stalled past its lease must not publish over the new holder.
    await lease.renew();
    const stored =
      current !== undefined && current.certificate.serial.toLowerCase() === info.serial.toLowerCase()
        ? current
        : await publishStoreFirst(version, current?.generation);
    const at = now().toISOString();
    await saveState(name, {
      lastAttemptAt: at,
      lastSuccessAt: at,
      failures: 0,
      finalizedAt: [...finalizedAt],
      finalizedWith: settings.directoryUrl,
    });
    await store
      .pruneVersions(name, VERSIONS_KEPT)
      .then((deleted) => {
        if (deleted.length > 0) log.info({ name, deleted: deleted.length }, 'old versions pruned');
      })
      .catch((err: unknown) => log.warn({ err, name }, 'could not prune old versions'));
    metrics.issued.inc({ name });
    metrics.lastSuccess.set({ name }, Date.parse(at) / 1000);
    ariPicks.delete(name);
    const following = decision(spec, stored, undefined, false, false);
    observe(name, stored, following);
    next.set(name, following.at);
    log.info(
      { name, serial: info.serial, notAfter: version.notAfter, domains: spec.domains },
      'certificate renewed and stored',
    );
    return { name, result: 'renewed', serial: info.serial, notAfter: version.notAfter };
  }

  /**
   * Completes the order a previous attempt persisted before finalizing (it crashed, or lost the
   * store, before storing the certificate). Undefined when there is none to complete.
   */
  async function resumePending(
    spec: CertificateSpec,
    state: RenewerState,
    current: CurrentCertificate | undefined,
    lease: Lease,
    emit: (step: string, fields?: Record<string, unknown>) => void,
  ): Promise<Outcome | undefined> {
    const { pending } = state;
    if (pending === undefined || acme.resume === undefined) return undefined;
    const { name } = spec;
    if (pending.directoryUrl !== settings.directoryUrl || !sameNames(pending.domains, spec.domains)) {
      log.info({ name, orderUrl: pending.orderUrl }, 'dropping a pending order of other settings');
      return undefined;
    }
    log.info({ name, orderUrl: pending.orderUrl }, 'completing the order a previous attempt finalized');
    const issued = await acme.resume(
      {
        orderUrl: pending.orderUrl,
        keyPem: pending.keyPem,
        domains: spec.domains,
        beforeFinalize: () => lease.renew(),
      },
      (step, fields) => emit(step, fields),
    );
    if (issued === undefined) return undefined;
    return storeIssued(spec, issued, current, lease, state.finalizedAt ?? [], emit);
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
      settingsKey: settingsKey(settings.directoryUrl, spec.domains, settings.profile),
      lastError: { code: e.code, message: e.message, at: at.toISOString(), permanent: e.permanent },
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
    tracks: () => tracks,
    async check(spec, options = {}) {
      const outcome = await checkOnce(spec, options);
      await updateTrack(spec);
      return outcome;
    },
  };

  async function checkOnce(spec: CertificateSpec, options: CheckOptions): Promise<Outcome> {
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
      const elsewhere = await issuedElsewhere(current);
      const d = decision(spec, current, await ariTime(name, current), options.force === true, elsewhere);
      observe(name, current, d);
      if (!d.due) {
        next.set(name, d.at);
        emit('not_due', { due: d.at.toISOString() });
        return { name, result: 'not_due', due: d.at.toISOString() };
      }
      if (!options.force) {
        const key = settingsKey(settings.directoryUrl, spec.domains, settings.profile);
        const hold = heldBack(await store.state(name), key, now());
        if (hold !== undefined) {
          if (hold.retryAt === undefined) next.delete(name);
          else next.set(name, hold.retryAt);
          emit('backoff', {
            code: hold.code,
            ...(hold.retryAt ? { retryAt: hold.retryAt.toISOString() } : {}),
          });
          return {
            name,
            result: 'backoff',
            code: hold.code,
            message: hold.message,
            ...(hold.retryAt === undefined ? {} : { retryAt: hold.retryAt.toISOString() }),
          };
        }
      }
      emit('due', { reason: d.reason });
      lease = await store.lock(name, owner, settings.leaseMs);
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
      return await renewLocked(spec, current, d, held, options, emit);
    } catch (err) {
      return failed(spec, err);
    } finally {
      clearInterval(keepAlive);
      await lease?.release().catch((err: unknown) => log.warn({ err, name }, 'could not release the lease'));
    }
  }
}
