/**
 * The one gate through which certificates change: a bundle from the store, or a change found in
 * `live/`, is validated and rolled out (rollout.ts) or refused; at start, what is on disk is
 * adopted. Operations run one at a time, in order, so the watcher never sees half of an install
 * and two syncs never interleave.
 */
import type { CertificateSpec } from '../shared/cert-options.ts';
import type { Logger } from '../shared/logger.ts';
import { bundleDigest, listVersions, liveVersion, readLive, readVersion, swapLive } from './install.ts';
import {
  type ApplyResult,
  createLedger,
  type Installed,
  type Ledger,
  type Refused,
  type Source,
} from './ledger.ts';
import type { CertSyncMetrics } from './metrics.ts';
import type { Nginx, RenderResult } from './nginx.ts';
import {
  type RolloutContext,
  relinkAsVersion,
  restoreLive,
  revertLive,
  rollout,
  verifyServed,
} from './rollout.ts';
import type { ServedCheck, ServedCheckOptions } from './served.ts';
import type { TrustAnchors } from './trust.ts';
import { type Bundle, type Validation, validateBundle } from './validate.ts';

/**
 * When nginx still serves another serial than the one installed (a reload that reported success
 * but did not take, a master that missed the signal), it is reloaded again at the checks after:
 * the first at the next check, then each at least this long after the one before. After the
 * last, cert-sync stops reloading (and /healthz turns 503) until a new certificate is installed
 * or it restarts: something is wrong with nginx that another reload will not fix.
 */
export const RELOAD_RETRY = Object.freeze({
  delaysMs: Object.freeze([0, 30_000, 120_000, 600_000, 1_800_000]),
});

export interface ApplierOptions {
  readonly dir: string;
  readonly certs: readonly CertificateSpec[];
  readonly anchors: TrustAnchors;
  readonly staging: boolean;
  readonly served: ServedCheckOptions;
  /** Version folders kept per name; 3 leaves two to go back to. */
  readonly keepVersions?: number;
}

export interface ApplierDeps {
  readonly nginx: Nginx;
  readonly log: Logger;
  readonly metrics: CertSyncMetrics;
  readonly now: () => Date;
}

export interface Applier {
  readonly ledger: Ledger;
  /** Adopts what is on disk (or the newest valid version), then brings nginx in line with it. */
  recover(): Promise<void>;
  /** Installs `bundle` for `name` if it is valid and not already installed. */
  offer(name: string, bundle: Bundle, source: Source): Promise<ApplyResult>;
  /** Looks at `live/<name>`: a change made by hand is applied or reverted; undefined when none. */
  checkLive(name: string): Promise<ApplyResult | undefined>;
  /** One handshake: which certificate nginx serves for `name` (recorded in the ledger). */
  checkServed(name: string): Promise<ServedCheck | undefined>;
}

export function createApplier(options: ApplierOptions, deps: ApplierDeps): Applier {
  const { dir, anchors, staging } = options;
  const { nginx, log, now } = deps;
  const ledger = createLedger(options.certs, deps);
  const ctx: RolloutContext = {
    ...deps,
    dir,
    keepVersions: options.keepVersions ?? 3,
    served: options.served,
    ledger,
  };
  let queue: Promise<unknown> = Promise.resolve();

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  const validate = (spec: CertificateSpec, bundle: Bundle): Validation =>
    validateBundle(bundle, { domains: spec.domains, now: now(), anchors, staging });

  async function offer(name: string, bundle: Bundle, source: Source): Promise<ApplyResult> {
    const spec = ledger.spec(name);
    if (spec === undefined) throw new Error(`${name} is not a configured certificate`);
    const v = validate(spec, bundle);
    if (!v.ok) return ledger.refuse(name, v, source);
    const current = ledger.installed(name);
    if (current !== undefined && current.digest === bundleDigest(bundle)) {
      if ((await liveVersion(dir, name)) !== current.version) await restoreLive(ctx, current);
      return { result: 'current', serial: current.info.serial };
    }
    // A certificate put in place by hand that is newer than the store's stays until the store has
    // a newer one: a sync must not undo an operator's fix with the certificate it replaced.
    if (
      source === 'store' &&
      current !== undefined &&
      current.info.notBefore > v.info.notBefore &&
      validate(spec, current.bundle).ok
    ) {
      log.info(
        { name, installed: current.info.serial, store: v.info.serial },
        'the installed certificate is newer than the store one; keeping it',
      );
      return { result: 'current', serial: current.info.serial };
    }
    return rollout(ctx, spec, bundle, v.info, source);
  }

  async function checkLive(name: string): Promise<ApplyResult | undefined> {
    const spec = ledger.spec(name);
    if (spec === undefined) return undefined;
    const current = ledger.installed(name);
    const live = await readLive(dir, name);
    if (current !== undefined && live !== undefined && bundleDigest(live) === current.digest) {
      // The same files in another form (a copied folder, a hand-made link): put ours back; nginx
      // already serves exactly these bytes, so nothing to reload.
      if ((await liveVersion(dir, name)) !== current.version) await restoreLive(ctx, current);
      return undefined;
    }
    if (current === undefined && live === undefined) return undefined;
    log.warn({ name }, 'live certificate changed on disk; checking it');
    if (live === undefined)
      return refuseAndRevert(
        name,
        { ok: false, reason: 'parse', detail: `live/${name} lacks fullchain.pem or privkey.pem` },
        current,
      );
    const v = validate(spec, live);
    if (!v.ok) return refuseAndRevert(name, v, current);
    return rollout(ctx, spec, live, v.info, 'local');
  }

  /** A change by hand that is refused: nginx never loaded it, so putting the link back is enough. */
  async function refuseAndRevert(name: string, refused: Refused, current: Installed | undefined) {
    const result = ledger.refuse(name, refused, 'local');
    await revertLive(ctx, name, current);
    log.warn({ name, serial: current?.info.serial }, 'live/<name> reverted to the last good certificate');
    return result;
  }

  /** Adopts `live/<name>` if valid, else the newest valid version; true when the link changed. */
  async function recoverOne(spec: CertificateSpec): Promise<boolean> {
    const { name } = spec;
    const live = await readLive(dir, name);
    if (live !== undefined) {
      const v = validate(spec, live);
      if (v.ok) {
        const linked = await liveVersion(dir, name);
        const behind = linked === undefined ? undefined : await readVersion(dir, name, linked);
        const found = { spec, bundle: live, info: v.info, source: 'local' } as const;
        if (linked !== undefined && behind !== undefined && bundleDigest(behind) === bundleDigest(live)) {
          ledger.adopt({ ...found, version: linked, digest: bundleDigest(live) });
          return false;
        }
        // Valid files that are not one of our versions (put there by hand while cert-sync was
        // stopped): keep them as a version of ours.
        await relinkAsVersion(ctx, found);
        return true;
      }
      ledger.refuse(name, v, 'local');
    }
    for (const version of await listVersions(dir, name)) {
      const bundle = await readVersion(dir, name, version);
      const v = bundle === undefined ? undefined : validate(spec, bundle);
      if (bundle === undefined || v === undefined || !v.ok) continue;
      await swapLive(dir, name, version, now());
      ledger.adopt({ spec, version, digest: bundleDigest(bundle), bundle, info: v.info, source: 'local' });
      log.warn(
        { name, version },
        'live/<name> was missing or invalid; went back to the newest valid version',
      );
      return true;
    }
    if (live !== undefined) await revertLive(ctx, name, undefined);
    return live !== undefined;
  }

  /** Reloads nginx again when RELOAD_RETRY says it is time, and checks what it serves then. */
  async function retryReload(name: string, serial: string, check: ServedCheck): Promise<ServedCheck> {
    const state = ledger.notServed(name);
    const delay = state === undefined ? undefined : RELOAD_RETRY.delaysMs[state.attempts];
    if (state === undefined || state.gaveUp || delay === undefined) return check;
    const at = now();
    if (at.getTime() < new Date(state.lastReloadAt).getTime() + delay) return check;
    const attempt = state.attempts + 1;
    log.warn(
      {
        name,
        serial,
        servedSerial: check.status === 'old_serial' ? check.served.serial : undefined,
        attempt,
      },
      'nginx still served the old certificate; reloading it again',
    );
    let after: ServedCheck = check;
    let result: 'served' | 'not_served' | 'failed';
    try {
      await nginx.test();
      await nginx.reload();
      after = await verifyServed(ctx, name, serial, options.served.attempts);
      result = after.status === 'ok' ? 'served' : 'not_served';
    } catch (err) {
      deps.metrics.reloadFailures.inc({ name, stage: 'reload' });
      log.error({ err, name, serial, attempt }, 'reloading nginx again failed');
      result = 'failed';
    }
    deps.metrics.reloadRetries.inc({ name, result });
    if (result === 'served') return after;
    const next = RELOAD_RETRY.delaysMs[attempt];
    ledger.setNotServed(name, {
      serial,
      since: state.since,
      attempts: attempt,
      lastReloadAt: at.toISOString(),
      ...(next === undefined ? {} : { nextAt: new Date(at.getTime() + next).toISOString() }),
      gaveUp: next === undefined,
    });
    if (next === undefined)
      log.error(
        { code: 'WSFLEET_CERT_NOT_SERVED', name, serial, attempts: attempt },
        'nginx still serves another certificate after every reload retried; giving up until the next install: check nginx (systemctl status nginx, its error log)',
      );
    return after;
  }

  async function recover(): Promise<void> {
    let relinked = false;
    for (const spec of options.certs) if (await recoverOne(spec)) relinked = true;
    let rendered: RenderResult | undefined;
    let stage: 'render' | 'test' | 'reload' = 'render';
    try {
      rendered = await nginx.render(ledger.nginxCerts());
      if (rendered.changed || relinked) {
        stage = 'test';
        await nginx.test();
        stage = 'reload';
        await nginx.reload();
      }
    } catch (err) {
      deps.metrics.reloadFailures.inc({ name: '', stage });
      log.error({ err, stage }, 'nginx refused the configuration at start; restoring its files');
      await rendered?.restore().catch((e: unknown) => log.error({ err: e }, 'restore failed'));
    }
    const installed = ledger.all();
    log.info(
      { installed: installed.map((i) => ({ name: i.spec.name, serial: i.info.serial })) },
      installed.length === 0
        ? 'no certificate installed yet: nginx serves HTTP only'
        : 'certificates on disk',
    );
    const reloaded = rendered?.changed === true || relinked;
    for (const i of installed)
      await verifyServed(ctx, i.spec.name, i.info.serial, reloaded ? options.served.attempts : 1);
  }

  return {
    ledger,
    recover: () => exclusive(recover),
    offer: (name, bundle, source) => exclusive(() => offer(name, bundle, source)),
    checkLive: (name) => exclusive(() => checkLive(name)),
    checkServed: (name) =>
      exclusive(async () => {
        const installed = ledger.installed(name);
        if (installed === undefined) return undefined;
        const check = await verifyServed(ctx, name, installed.info.serial, 1);
        return check.status === 'old_serial' ? retryReload(name, installed.info.serial, check) : check;
      }),
  };
}
