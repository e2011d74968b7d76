/**
 * Whether a certificate is on track: the operator's question at 3 a.m. It is when the stored
 * certificate (of the configured directory and names) has more than its renewal margin left
 * (a third of its lifetime; half for short-lived ones), or when it is due and its renewal is
 * going somewhere: no failure yet, or a retry planned before it expires. It is not when none is
 * stored, it expired, it comes from another directory or names, the CA refused for good, or the
 * next attempt comes after expiry. Read by `renewer status`, /healthz's body and the
 * `wsfleet_renewer_certificate_on_track` gauge (alert rules in images/prometheus).
 */
import type { CertificateVersion, RenewerState } from '../shared/store/cert-store.ts';
import { lifetimeRenewalTime, sameNames } from './renewal-window.ts';

export interface Track {
  readonly onTrack: boolean;
  /** One sentence for the operator. */
  readonly reason: string;
}

export interface TrackInput {
  readonly now: Date;
  readonly certificate?: Pick<CertificateVersion, 'notBefore' | 'notAfter' | 'domains' | 'directoryUrl'>;
  readonly state?: RenewerState;
  /** The configured names and directory; undefined: whatever is stored. */
  readonly domains?: readonly string[];
  readonly directoryUrl?: string;
}

export function track({ now, certificate: c, state, domains, directoryUrl }: TrackInput): Track {
  const error = state?.lastError;
  const failing = error === undefined ? '' : `; last attempt failed: ${error.code}: ${error.message}`;
  if (c === undefined) return { onTrack: false, reason: `no certificate stored yet${failing}` };
  const notAfter = new Date(c.notAfter);
  if (notAfter.getTime() <= now.getTime())
    return { onTrack: false, reason: `expired at ${c.notAfter}${failing}` };
  if (directoryUrl !== undefined && c.directoryUrl !== directoryUrl)
    return { onTrack: false, reason: `issued by ${c.directoryUrl}, not the configured directory${failing}` };
  if (domains !== undefined && domains.length > 0 && !sameNames(c.domains, domains))
    return { onTrack: false, reason: `names differ from the configuration${failing}` };
  const due = lifetimeRenewalTime({ notBefore: new Date(c.notBefore), notAfter });
  if (due.getTime() > now.getTime())
    return { onTrack: true, reason: `valid until ${c.notAfter}; renewal due at ${due.toISOString()}` };
  if (error === undefined)
    return { onTrack: true, reason: `due since ${due.toISOString()}; renewal under way` };
  if (state?.nextAttemptAt === undefined)
    return {
      onTrack: false,
      reason: `renewal refused for good (${error.code}: ${error.message}); fix it and run \`wsfleet renewer renew --force\``,
    };
  if (Date.parse(state.nextAttemptAt) >= notAfter.getTime())
    return { onTrack: false, reason: `next attempt ${state.nextAttemptAt} comes after expiry${failing}` };
  return { onTrack: true, reason: `renewal retried at ${state.nextAttemptAt}${failing}` };
}
