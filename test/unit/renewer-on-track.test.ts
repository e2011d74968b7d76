import { describe, expect, it } from 'vitest';
import { track } from '../../daemons/renewer/on-track.ts';
import type { RenewerState } from '../../daemons/shared/store/cert-store.ts';

const DAY = 24 * 3600 * 1000;
const t0 = new Date('2027-03-01T00:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const DIRECTORY = 'https://acme.test/dir';
const certificate = {
  notBefore: t0.toISOString(),
  notAfter: at(90 * DAY).toISOString(),
  domains: ['a.example'],
  directoryUrl: DIRECTORY,
};
const failure = (extra: Partial<RenewerState>): RenewerState => ({
  failures: 3,
  lastError: { code: 'WSFLEET_ACME_FAILED', message: 'CA down', at: at(61 * DAY).toISOString() },
  ...extra,
});

describe('#track', () => {
  it.each([
    ['more than a third of its lifetime is left', { now: at(59 * DAY) }, true, /renewal due at/],
    ['it is due and no attempt failed', { now: at(61 * DAY) }, true, /renewal under way/],
    [
      'it is due and the next retry comes before expiry',
      { now: at(61 * DAY), state: failure({ nextAttemptAt: at(62 * DAY).toISOString() }) },
      true,
      /retried at .*CA down/,
    ],
    [
      'the next retry comes after expiry',
      { now: at(89 * DAY), state: failure({ nextAttemptAt: at(91 * DAY).toISOString() }) },
      false,
      /after expiry/,
    ],
    [
      'the CA refused for good',
      {
        now: at(61 * DAY),
        state: failure({
          lastError: { code: 'WSFLEET_ACME_REFUSED', message: 'no', at: t0.toISOString(), permanent: true },
        }),
      },
      false,
      /refused for good .*renew --force/,
    ],
    ['it expired', { now: at(91 * DAY) }, false, /expired at/],
    [
      'it comes from another directory',
      { now: t0, directoryUrl: 'https://other.test/dir' },
      false,
      /not the configured directory/,
    ],
    ['its names differ', { now: t0, domains: ['b.example'] }, false, /names differ/],
  ])('when %s: on track %s', (_, input, onTrack, reason) => {
    const t = track({ certificate, directoryUrl: DIRECTORY, domains: ['a.example'], ...input });
    expect(t.onTrack).toBe(onTrack);
    expect(t.reason).toMatch(reason);
  });

  it('is not on track without a certificate, and says why the last attempt failed', () => {
    const t = track({ now: t0, state: failure({}) });
    expect(t).toEqual({
      onTrack: false,
      reason: 'no certificate stored yet; last attempt failed: WSFLEET_ACME_FAILED: CA down',
    });
  });
});
