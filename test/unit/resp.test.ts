import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeRequest, nameSetBy, readReply, readRequest, valueEnd } from '../helpers/resp.ts';

/** A RESP3 value as Redis writes it, built from parts. */
const reply: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'grapheme-ascii' }).map((s) => `+${s.replace(/[\r\n]/g, '')}\r\n`),
    fc.integer().map((n) => `:${n}\r\n`),
    fc.constant('_\r\n'),
    fc.constant('$-1\r\n'),
    fc.string().map((s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`),
    fc
      .array(tie('value') as fc.Arbitrary<string>, { maxLength: 4 })
      .map((xs) => `*${xs.length}\r\n${xs.join('')}`),
    fc
      .array(tie('value') as fc.Arbitrary<string>, { maxLength: 4 })
      .map((xs) => `>${xs.length}\r\n${xs.join('')}`),
    fc
      .array(fc.tuple(tie('value') as fc.Arbitrary<string>, tie('value') as fc.Arbitrary<string>), {
        maxLength: 3,
      })
      .map((kv) => `%${kv.length}\r\n${kv.map(([k, v]) => k + v).join('')}`),
  ),
})).value;

describe('RESP framing (test helper)', () => {
  it('finds where each reply ends, and none in a reply cut short', () => {
    fc.assert(
      fc.property(fc.array(reply, { minLength: 1, maxLength: 5 }), (replies) => {
        const buf = Buffer.from(replies.join(''));
        let at = 0;
        for (const r of replies) {
          const end = valueEnd(buf, at);
          expect(end).toBe(at + Buffer.byteLength(r));
          expect(readReply(buf, at)?.push).toBe(r.startsWith('>'));
          expect(valueEnd(buf.subarray(0, (end ?? 0) - 1), at)).toBeUndefined();
          at = end ?? 0;
        }
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('reads back the arguments of a request, and nothing from part of one', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 6 }), (args) => {
        const buf = encodeRequest(args);
        expect(readRequest(buf, 0)).toEqual({ end: buf.length, args });
        for (const cut of [1, Math.floor(buf.length / 2), buf.length - 1]) {
          expect(readRequest(buf.subarray(0, cut), 0)).toBeUndefined();
        }
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it.each([
    [['CLIENT', 'SETNAME', 'wsfleet-subscriber'], 'wsfleet-subscriber'],
    [['client', 'setname', 'n'], 'n'],
    [['HELLO', '3', 'SETNAME', 'n'], 'n'],
    [['HELLO', '3', 'AUTH', 'default', 'SETNAME', 'SETNAME', 'n'], 'n'],
    [['HELLO', '3'], undefined],
    [['CLIENT', 'GETNAME'], undefined],
  ])('takes the connection name set by %j', (args, name) => {
    expect(nameSetBy(args)).toBe(name);
  });
});
