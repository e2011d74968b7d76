import { describe, expect, it } from 'vitest';
import { isValidChannel, parseClientFrame } from '../../daemons/app/protocol.ts';

describe('protocol', () => {
  describe('#parseClientFrame', () => {
    it.each([
      ['{"op":"subscribe","channel":"news"}', { op: 'subscribe', channel: 'news' }],
      [
        '{"op":"subscribe","channel":"a:b/c","since":41,"epoch":"xyz","id":7}',
        { op: 'subscribe', channel: 'a:b/c', since: 41, epoch: 'xyz', id: 7 },
      ],
      ['{"op":"unsubscribe","channel":"news","id":"u1"}', { op: 'unsubscribe', channel: 'news', id: 'u1' }],
      [
        '{"op":"publish","channel":"news","data":{"x":[1,"é"]}}',
        { op: 'publish', channel: 'news', data: '{"x":[1,"é"]}' },
      ],
      ['{"op":"publish","channel":"n","data":null}', { op: 'publish', channel: 'n', data: 'null' }],
      ['{"op":"ping"}', { op: 'ping' }],
    ])('accepts %s', (text, value) => {
      expect(parseClientFrame(text)).toEqual({ ok: true, value });
    });

    it.each([
      ['not json', 'bad_json'],
      ['', 'bad_json'],
      ['[1,2]', 'bad_frame'],
      ['"subscribe"', 'bad_frame'],
      ['null', 'bad_frame'],
      ['{"channel":"x"}', 'bad_frame'],
      ['{"op":5}', 'bad_frame'],
      ['{"op":"fly"}', 'unknown_op'],
      ['{"op":"subscribe"}', 'bad_channel'],
      ['{"op":"subscribe","channel":""}', 'bad_channel'],
      ['{"op":"subscribe","channel":"has space"}', 'bad_channel'],
      [`{"op":"subscribe","channel":"${'x'.repeat(201)}"}`, 'bad_channel'],
      ['{"op":"subscribe","channel":"x","since":3}', 'bad_frame'],
      ['{"op":"subscribe","channel":"x","since":-1}', 'bad_frame'],
      ['{"op":"subscribe","channel":"x","since":1.5,"epoch":"e"}', 'bad_frame'],
      ['{"op":"subscribe","channel":"x","since":"3","epoch":"e"}', 'bad_frame'],
      ['{"op":"subscribe","channel":"x","epoch":3}', 'bad_frame'],
      ['{"op":"publish","channel":"x"}', 'bad_frame'],
      ['{"op":"ping","id":{"a":1}}', 'bad_frame'],
      [`{"op":"ping","id":"${'i'.repeat(65)}"}`, 'bad_frame'],
    ])('refuses %s with %s', (text, code) => {
      const result = parseClientFrame(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.code).toBe(code);
    });

    it('echoes the request id on errors it can attribute', () => {
      expect(parseClientFrame('{"op":"nope","id":12}')).toMatchObject({
        ok: false,
        code: 'unknown_op',
        id: 12,
      });
    });
  });

  describe('#isValidChannel', () => {
    it.each([
      ['chat', true],
      ['user:42/inbox', true],
      ['a.b-c_d@e=f', true],
      ['', false],
      ['ü', false],
      ['a b', false],
      [42, false],
    ])('%j is %s', (name, expected) => {
      expect(isValidChannel(name)).toBe(expected);
    });
  });
});
