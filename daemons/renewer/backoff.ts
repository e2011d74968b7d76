/**
 * The persistent side of the retry policy: after a failure the renewer writes when it may try
 * again (`nextAttemptAt`) and whether the CA refused for good (`lastError.permanent`) into the
 * store, and every later check — by the cron, a timer, a restarted daemon or a `renew` without
 * `--force` — reads it back here before doing anything. A schedule kept only in memory is lost by
 * every restart, and a permanent refusal would then be retried every 12 hours.
 *
 * Both holds belong to the settings they failed with: a change of directory, names or profile
 * is a new situation and is tried at once.
 */
import { createHash } from 'node:crypto';
import type { RenewerState } from '../shared/store/cert-store.ts';

export interface Hold {
  /** The code of the failure that set the hold. */
  readonly code: string;
  readonly message: string;
  /** When the next attempt may be made; undefined for a permanent refusal. */
  readonly retryAt?: Date;
}

/** What a failure's hold is tied to: the directory, the names (in any order) and the profile. */
export function settingsKey(directoryUrl: string, domains: readonly string[], profile?: string): string {
  const names = [...domains].map((d) => d.toLowerCase()).sort();
  return createHash('sha256')
    .update(JSON.stringify([directoryUrl, names, profile ?? null]))
    .digest('hex');
}

/** The hold the stored state puts on an attempt now, or undefined when one may be made. */
export function heldBack(state: RenewerState | undefined, key: string, now: Date): Hold | undefined {
  if (state === undefined || state.lastError === undefined) return undefined;
  if (state.settingsKey !== undefined && state.settingsKey !== key) return undefined;
  const { code, message, permanent } = state.lastError;
  if (state.nextAttemptAt !== undefined) {
    const retryAt = new Date(state.nextAttemptAt);
    return retryAt.getTime() > now.getTime() ? { code, message, retryAt } : undefined;
  }
  return permanent === true ? { code, message } : undefined;
}
