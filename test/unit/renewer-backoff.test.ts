import { describe, expect, it } from 'vitest';
import { heldBack, settingsKey } from '../../daemons/renewer/backoff.ts';
import type { RenewerState } from '../../daemons/shared/store/cert-store.ts';

const t0 = new Date('2027-03-01T00:00:00Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const HOUR = 3600 * 1000;
const key = settingsKey('https://acme.test/dir', ['a.example', 'www.a.example']);

function failedState(extra: Partial<RenewerState>): RenewerState {
  return {
    failures: 1,
    settingsKey: key,
    lastError: { code: 'WSFLEET_ACME_RATE_LIMITED', message: 'slow down', at: t0.toISOString() },
    ...extra,
  };
}

describe('persistent backoff', () => {
  describe('#settingsKey', () => {
    it('is the same for the same names in any order and case', () => {
      expect(settingsKey('https://acme.test/dir', ['WWW.a.example', 'a.example'])).toBe(key);
    });

    it.each([
      ['another directory', settingsKey('https://other.test/dir', ['a.example', 'www.a.example'])],
      ['other names', settingsKey('https://acme.test/dir', ['a.example'])],
      ['a profile', settingsKey('https://acme.test/dir', ['a.example', 'www.a.example'], 'shortlived')],
    ])('differs for %s', (_, other) => {
      expect(other).not.toBe(key);
    });
  });

  describe('#heldBack', () => {
    it('holds every attempt until the stored retry time, then none', () => {
      const state = failedState({ nextAttemptAt: at(2 * HOUR).toISOString() });
      expect(heldBack(state, key, at(HOUR))).toEqual({
        code: 'WSFLEET_ACME_RATE_LIMITED',
        message: 'slow down',
        retryAt: at(2 * HOUR),
      });
      expect(heldBack(state, key, at(2 * HOUR + 1))).toBeUndefined();
    });

    it('holds a permanent refusal for good, however much time passes', () => {
      const state = failedState({
        lastError: { code: 'WSFLEET_ACME_REFUSED', message: 'policy', at: t0.toISOString(), permanent: true },
      });
      expect(heldBack(state, key, at(1000 * HOUR))).toMatchObject({ code: 'WSFLEET_ACME_REFUSED' });
      expect(heldBack(state, key, at(1000 * HOUR))?.retryAt).toBeUndefined();
    });

    it('lifts both holds when the settings changed since the failure', () => {
      const other = settingsKey('https://other.test/dir', ['a.example', 'www.a.example']);
      const retry = failedState({ nextAttemptAt: at(2 * HOUR).toISOString() });
      const permanent = failedState({
        lastError: { code: 'WSFLEET_ACME_REFUSED', message: 'policy', at: t0.toISOString(), permanent: true },
      });
      expect(heldBack(retry, other, at(HOUR))).toBeUndefined();
      expect(heldBack(permanent, other, at(HOUR))).toBeUndefined();
    });

    it('holds nothing without a stored failure', () => {
      expect(heldBack(undefined, key, t0)).toBeUndefined();
      expect(heldBack({ failures: 0, lastSuccessAt: t0.toISOString() }, key, t0)).toBeUndefined();
    });
  });
});
