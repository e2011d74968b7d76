import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DATA_DEPTH } from '../../daemons/app/json-depth.ts';
import { PROTOCOL_ERRORS, parseClientFrame } from '../../daemons/app/protocol.ts';
import { deepText, frameText, fuzzOptions, fuzzRuns, fuzzTimeout } from '../helpers/fuzz.ts';

const RUNS = fuzzRuns(2_000);

describe('parseClientFrame under hostile input', () => {
  it(
    'never throws, refuses with a listed code, and accepts only what serialises back',
    () => {
      fc.assert(
        fc.property(frameText, (text) => {
          const result = parseClientFrame(text);
          if (!result.ok) {
            expect(Object.keys(PROTOCOL_ERRORS)).toContain(result.code);
            return;
          }
          // Whatever is accepted can be framed: the server builds its frames from these values.
          expect(() => JSON.stringify(result.value)).not.toThrow();
          const value = result.value;
          if (value.op === 'publish') expect(() => JSON.parse(value.data)).not.toThrow();
        }),
        fuzzOptions(RUNS),
      );
    },
    fuzzTimeout(RUNS, 5),
  );

  it('refuses data deeper than the limit with data_too_deep, whatever its shape', () => {
    fc.assert(
      fc.property(deepText, (data) => {
        const result = parseClientFrame(`{"op":"publish","channel":"c","data":${data}}`);
        const depth = data.indexOf('1') / (data.startsWith('[') ? 1 : 5);
        if (depth > MAX_DATA_DEPTH) expect(result).toMatchObject({ ok: false, code: 'data_too_deep' });
        else expect(result.ok).toBe(true);
      }),
      fuzzOptions(Math.min(RUNS, 500)),
    );
  });
});
