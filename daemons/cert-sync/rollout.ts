/**
 * Putting one validated certificate into service: a new version folder, the `live/<name>` swap,
 * then nginx render → test → reload. If nginx refuses, everything goes back — the link, the nginx
 * files (`restore()`), and, after a failed reload only, a tested reload — so nginx keeps the last
 * good certificate. After a reload the
 * served serial is checked: nginx still serving the old one is an error, never silent.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateSpec } from '../shared/cert-options.ts';
import type { CertificateInfo } from '../shared/certificate-info.ts';
import type { Logger } from '../shared/logger.ts';
import { bundleDigest, paths, pruneVersions, readVersion, swapLive, writeVersion } from './install.ts';
import type { ApplyResult, Installed, Ledger, Source } from './ledger.ts';
import type { CertSyncMetrics } from './metrics.ts';
import type { Nginx, RenderResult } from './nginx.ts';
import { checkServed, type ServedCheck, type ServedCheckOptions } from './served.ts';
import type { Bundle } from './validate.ts';

export interface RolloutContext {
  readonly dir: string;
  /** Version folders kept per name (the live one and those before it). */
  readonly keepVersions: number;
  readonly served: ServedCheckOptions;
  readonly nginx: Nginx;
  readonly ledger: Ledger;
  readonly log: Logger;
  readonly metrics: CertSyncMetrics;
  readonly now: () => Date;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The error's own WSFLEET_* code (nginx's test or reload failure), else `fallback`. */
function codeOf(err: unknown, fallback: string): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('WSFLEET_') ? code : fallback;
}

async function swap(ctx: RolloutContext, name: string, version: string | undefined): Promise<void> {
  const displaced = await swapLive(ctx.dir, name, version, ctx.now());
  if (displaced !== undefined) ctx.log.warn({ name, displaced }, 'moved what was at live/<name> aside');
}

/**
 * Writes `bundle` as a new version, points `live/<name>` at it and records it as installed — for
 * files nginx already serves, so nothing is reloaded.
 */
export async function relinkAsVersion(
  ctx: RolloutContext,
  installed: Omit<Installed, 'version' | 'digest'>,
): Promise<void> {
  const { name } = installed.spec;
  const version = await writeVersion(ctx.dir, name, installed.bundle, installed.info.serial, ctx.now());
  await swap(ctx, name, version);
  ctx.ledger.adopt({ ...installed, version, digest: bundleDigest(installed.bundle) });
}

/** Points `live/<name>` at `installed` again, rewriting its version if its files were edited. */
export async function restoreLive(ctx: RolloutContext, installed: Installed): Promise<void> {
  const onDisk = await readVersion(ctx.dir, installed.spec.name, installed.version);
  if (onDisk === undefined || bundleDigest(onDisk) !== installed.digest)
    return relinkAsVersion(ctx, installed);
  await swap(ctx, installed.spec.name, installed.version);
  ctx.ledger.adopt(installed);
}

/** Puts `live/<name>` back to `previous`, or removes it when there was none. */
export async function revertLive(
  ctx: RolloutContext,
  name: string,
  previous: Installed | undefined,
): Promise<void> {
  if (previous !== undefined) await restoreLive(ctx, previous);
  else await swap(ctx, name, undefined);
}

/** Checks, `attempts` times at most, that nginx serves `serial` for `name`; logs and counts a failure. */
export async function verifyServed(
  ctx: RolloutContext,
  name: string,
  serial: string,
  attempts: number,
): Promise<ServedCheck> {
  const check = await checkServed(ctx.nginx, name, serial, { ...ctx.served, attempts });
  ctx.ledger.recordServed(name, check);
  // Another serial served: remembered (from the first time it is seen for this serial), so that
  // the next checks reload again (apply.ts, RELOAD_RETRY); the right one served: forgotten.
  const known = ctx.ledger.notServed(name);
  if (check.status === 'ok' || (known !== undefined && known.serial !== serial))
    ctx.ledger.setNotServed(name, undefined);
  if (check.status === 'old_serial' && ctx.ledger.notServed(name) === undefined) {
    const at = ctx.now().toISOString();
    ctx.ledger.setNotServed(name, {
      serial,
      since: at,
      attempts: 0,
      lastReloadAt: at,
      nextAt: at,
      gaveUp: false,
    });
  }
  if (check.status !== 'ok') {
    ctx.metrics.verifyFailures.inc({ name, reason: check.status });
    ctx.log.error(
      {
        code: 'WSFLEET_CERT_NOT_SERVED',
        name,
        serial,
        servedSerial: check.status === 'old_serial' ? check.served.serial.toLowerCase() : undefined,
        err: check.status === 'unreachable' ? check.error : undefined,
        at: `${ctx.served.host}:${ctx.served.port}`,
      },
      check.status === 'old_serial'
        ? 'renewed but still serving the old one'
        : 'installed, but nginx did not answer to confirm it',
    );
  }
  return check;
}

export async function rollout(
  ctx: RolloutContext,
  spec: CertificateSpec,
  bundle: Bundle,
  info: CertificateInfo,
  source: Source,
): Promise<ApplyResult> {
  const { name } = spec;
  const { serial } = info;
  const previous = ctx.ledger.installed(name);
  const versions = paths.versions(ctx.dir, name);
  let version: string | undefined;
  try {
    version = await writeVersion(ctx.dir, name, bundle, serial, ctx.now());
    await swap(ctx, name, version);
  } catch (err) {
    ctx.log.error({ err, name, serial }, 'could not write the certificate; the last good one stays');
    await revertLive(ctx, name, previous).catch((e: unknown) =>
      ctx.log.error({ err: e, name }, 'revert failed'),
    );
    if (version !== undefined) await rm(join(versions, version), { recursive: true, force: true });
    return { result: 'failed', code: 'WSFLEET_CERT_INSTALL_FAILED', message: message(err), serial };
  }
  const next: Installed = { spec, version, digest: bundleDigest(bundle), bundle, info, source };
  ctx.ledger.adopt(next);
  let stage: 'render' | 'test' | 'reload' = 'render';
  let rendered: RenderResult | undefined;
  try {
    rendered = await ctx.nginx.render(ctx.ledger.nginxCerts());
    stage = 'test';
    await ctx.nginx.test();
    stage = 'reload';
    await ctx.nginx.reload();
  } catch (err) {
    ctx.metrics.reloadFailures.inc({ name, stage });
    ctx.log.error({ err, name, serial, stage }, 'nginx refused the new certificate; rolling back');
    if (previous === undefined) ctx.ledger.forget(name);
    else ctx.ledger.adopt(previous);
    try {
      await revertLive(ctx, name, previous);
      await rendered?.restore();
      // After a failed render or `nginx -t`, nginx never loaded the new files and still runs the
      // restored ones: nothing to reload. After a failed reload (which may have taken in part),
      // the restored files are tested, then loaded: never a reload of an untested configuration.
      if (stage === 'reload') {
        await ctx.nginx.test();
        await ctx.nginx.reload();
      }
    } catch (rollbackErr) {
      ctx.log.error({ err: rollbackErr, name }, 'rollback incomplete; check nginx by hand');
    }
    await rm(join(versions, version), { recursive: true, force: true });
    return {
      result: 'failed',
      code: codeOf(err, 'WSFLEET_CERT_INSTALL_FAILED'),
      message: message(err),
      serial,
    };
  }
  ctx.metrics.installs.inc({ name, source });
  ctx.log.info(
    { name, serial, notAfter: info.notAfter.toISOString(), version, source, previous: previous?.info.serial },
    'certificate installed and nginx reloaded',
  );
  try {
    const pruned = await pruneVersions(ctx.dir, name, ctx.keepVersions, [version, previous?.version]);
    if (pruned.length > 0) ctx.log.debug({ name, pruned }, 'pruned old versions');
  } catch (err) {
    ctx.log.warn({ err, name }, 'could not prune old versions');
  }
  const check = await verifyServed(ctx, name, serial, ctx.served.attempts);
  return { result: 'installed', serial, served: check.status };
}
