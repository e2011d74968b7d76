import { describe, expect, it } from 'vitest';
import {
  GUARD_WINDOW_MS,
  issuanceLimit,
  nextAllowedIssuance,
  recordIssuance,
} from '../../daemons/renewer/rate-guard.ts';
import { decide, lifetimeRenewalTime, pickInWindow } from '../../daemons/renewer/renewal-window.ts';
import { RETRY_CAP_MS, retryDelay } from '../../daemons/renewer/retry-policy.ts';

const DAY = 24 * 3600 * 1000;
const HOUR = 3600 * 1000;
const t0 = new Date('2027-03-01T00:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);

describe('renewal window', () => {
  describe('#lifetimeRenewalTime', () => {
    it.each([
      ['90 days', 90 * DAY, 60 * DAY],
      ['64 days', 64 * DAY, (64 * DAY * 2) / 3],
      ['45 days', 45 * DAY, 30 * DAY],
      ['160 hours (short-lived)', 160 * HOUR, 80 * HOUR],
      ['exactly 10 days', 10 * DAY, 5 * DAY],
    ])('for a %s certificate is when a third (or half) remains', (_name, lifetime, expected) => {
      expect(lifetimeRenewalTime({ notBefore: t0, notAfter: at(lifetime) }).getTime()).toBeCloseTo(
        at(expected).getTime(),
        -1,
      );
    });
  });

  describe('#decide', () => {
    const current = { notBefore: t0, notAfter: at(90 * DAY), domains: ['a.example', 'www.a.example'] };
    const domains = ['www.a.example', 'a.example'];

    it.each([
      ['no certificate is stored', { current: undefined, now: t0 }, true, 'no_certificate'],
      ['the names changed', { current, now: t0, domains: ['a.example'] }, true, 'names_changed'],
      ['it expired', { current, now: at(91 * DAY) }, true, 'expired'],
      ['a third of its lifetime remains', { current, now: at(60 * DAY) }, true, 'lifetime'],
      ['more than a third remains', { current, now: at(59 * DAY) }, false, 'lifetime'],
      ['the ARI time has come', { current, now: at(20 * DAY), ariTime: at(19 * DAY) }, true, 'ari'],
      [
        'the ARI time is later than the lifetime rule',
        { current, now: at(61 * DAY), ariTime: at(70 * DAY) },
        false,
        'ari',
      ],
      ['forced', { current, now: t0, force: true }, true, 'forced'],
      [
        'it came from another directory or account, with most of its lifetime left',
        { current, now: t0, issuedElsewhere: true },
        true,
        'issuer_changed',
      ],
    ])('when %s: due %s', (_name, input, due, reason) => {
      const d = decide({ domains, ...input });
      expect(d.due).toBe(due);
      expect(d.reason).toBe(reason);
    });

    it('ignores an ARI time past expiry and falls back to the lifetime rule', () => {
      const d = decide({ current, domains, now: t0, ariTime: at(100 * DAY) });
      expect(d.at).toEqual(at(60 * DAY));
    });
  });

  describe('#pickInWindow', () => {
    it.each([0, 0.5, 0.999])('picks inside the window (random %s)', (r) => {
      const picked = pickInWindow({ start: at(DAY), end: at(2 * DAY) }, () => r);
      expect(picked.getTime()).toBeGreaterThanOrEqual(at(DAY).getTime());
      expect(picked.getTime()).toBeLessThan(at(2 * DAY).getTime());
      expect(picked.getTime()).toBe(at(DAY + Math.floor(r * DAY)).getTime());
    });
  });
});

describe('#retryDelay', () => {
  it.each([
    [1, 60_000],
    [2, 600_000],
    [3, 6_000_000],
    [4, RETRY_CAP_MS],
    [40, RETRY_CAP_MS],
  ])('after %d failures waits %d ms (without jitter)', (failures, ms) => {
    expect(retryDelay({ failures, permanent: false }, () => 0.5)).toBe(ms);
  });

  it('jitters by at most 10 %', () => {
    expect(retryDelay({ failures: 1, permanent: false }, () => 0)).toBe(54_000);
    expect(retryDelay({ failures: 1, permanent: false }, () => 1)).toBe(66_000);
  });

  it('honours a longer Retry-After', () => {
    expect(retryDelay({ failures: 1, permanent: false, retryAfterMs: 3_600_000 }, () => 0.5)).toBe(3_600_000);
    expect(retryDelay({ failures: 2, permanent: false, retryAfterMs: 1_000 }, () => 0.5)).toBe(600_000);
  });

  it('does not retry permanent errors', () => {
    expect(retryDelay({ failures: 1, permanent: true })).toBeUndefined();
  });

  it.each([
    [1, 15_000],
    [2, 15_000],
    [6, 15_000],
    [60, 15_000],
    [240, 15_000],
    [241, 600_000],
    [1000, 600_000],
  ])(
    'retries a failed self-check (nothing reached the CA) on a fixed cadence: failure %i → %i ms',
    (failures, ms) => {
      expect(retryDelay({ failures, permanent: false, beforeOrder: true }, () => 0.5)).toBe(ms);
    },
  );

  it('keeps checking every 15 s for the first hour, while DNS records are set and caches expire', () => {
    let waited = 0;
    let failures = 0;
    while (waited < 3_600_000) {
      failures += 1;
      const delay = retryDelay({ failures, permanent: false, beforeOrder: true }, () => 0.5) ?? 0;
      expect(delay).toBe(15_000);
      waited += delay;
    }
    expect(failures).toBe(240);
  });
});

describe('rate guard', () => {
  it('allows two issuances per 7 days, then names when the next one is allowed', () => {
    let record: string[] = [];
    expect(nextAllowedIssuance(record, t0)).toBeUndefined();
    record = recordIssuance(record, t0);
    expect(nextAllowedIssuance(record, at(HOUR))).toBeUndefined();
    record = recordIssuance(record, at(HOUR));
    expect(nextAllowedIssuance(record, at(2 * HOUR))).toEqual(at(GUARD_WINDOW_MS));
    expect(nextAllowedIssuance(record, at(GUARD_WINDOW_MS + 1))).toBeUndefined();
  });

  it.each([
    ['no certificate yet', undefined, 2],
    ['90 days', 90 * DAY, 2],
    ['45 days', 45 * DAY, 2],
    ['short-lived, 160 hours (renewed every 80 hours)', 160 * HOUR, 4],
    ['6 days', 6 * DAY, 4],
    ['1 day', DAY, 4],
  ])(
    'allows as many issuances as a lifetime of %s needs in 7 days, never more than 4',
    (_, lifetime, limit) => {
      expect(issuanceLimit(lifetime)).toBe(limit);
    },
  );

  it('lets a short-lived certificate renew at its own pace for weeks', () => {
    const lifetime = 160 * HOUR;
    const limit = issuanceLimit(lifetime);
    let record: string[] = [];
    // Renewed every 80 hours (half its lifetime) for four weeks: never refused.
    for (let t = 0; t < 28 * DAY; t += 80 * HOUR) {
      expect(nextAllowedIssuance(record, at(t), limit)).toBeUndefined();
      record = recordIssuance(record, at(t));
    }
    // A burst is still stopped.
    for (let i = 1; i <= limit; i++) record = recordIssuance(record, at(28 * DAY + i));
    expect(nextAllowedIssuance(record, at(28 * DAY + limit + 1), limit)).toBeDefined();
  });

  it('forgets issuances older than the window', () => {
    const record = recordIssuance([t0.toISOString(), at(DAY).toISOString()], at(8 * DAY - 1));
    expect(record).toEqual([at(DAY).toISOString(), at(8 * DAY - 1).toISOString()]);
  });
});
