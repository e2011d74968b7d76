import { describe, expect, it } from 'vitest';
import type { LookupEvent } from '../../daemons/renewer/challenge-lookup.ts';
import { countLookup, createRenewerMetrics } from '../../daemons/renewer/metrics.ts';

describe('renewer metrics', () => {
  describe('countLookup', () => {
    it('counts each challenge lookup in its series, refusals apart', async () => {
      const metrics = createRenewerMetrics();
      const events: LookupEvent[] = [
        'store:found',
        'store:absent',
        'store:absent',
        'store:error',
        'cache:found',
        'cache:absent',
        'refused:source_rate',
        'refused:busy',
        'refused:busy',
      ];
      for (const event of events) countLookup(metrics, event);
      const text = await metrics.registry.metrics();
      const lines = text.split('\n').filter((l) => l.startsWith('wsfleet_renewer_challenge_lookups'));
      expect(lines.sort()).toEqual(
        [
          'wsfleet_renewer_challenge_lookups_total{from="store",result="found"} 1',
          'wsfleet_renewer_challenge_lookups_total{from="store",result="absent"} 2',
          'wsfleet_renewer_challenge_lookups_total{from="store",result="error"} 1',
          'wsfleet_renewer_challenge_lookups_total{from="cache",result="found"} 1',
          'wsfleet_renewer_challenge_lookups_total{from="cache",result="absent"} 1',
          'wsfleet_renewer_challenge_lookups_refused_total{reason="source_rate"} 1',
          'wsfleet_renewer_challenge_lookups_refused_total{reason="busy"} 2',
        ].sort(),
      );
    });
  });
});
