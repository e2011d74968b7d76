import { describe, expect, it } from 'vitest';
import { channelAllowed, signToken, tokenFromRequest, verifyToken } from '../../daemons/app/token.ts';

const secret = 's'.repeat(32);
const now = 1_800_000_000;

function forge(header: object, claims: object, sig = 'AAAA'): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64(header)}.${b64(claims)}.${sig}`;
}

describe('tokens', () => {
  describe('#verifyToken', () => {
    it('accepts a token it signed, with its claims', () => {
      const token = signToken({ exp: now + 60, sub: 'user-1', channels: ['chat', 'user:1:*'] }, secret);
      expect(verifyToken(token, secret, now)).toEqual({
        ok: true,
        claims: { exp: now + 60, sub: 'user-1', channels: ['chat', 'user:1:*'] },
      });
    });

    it.each([
      [
        'a token signed with another secret',
        signToken({ exp: now + 60 }, 'x'.repeat(32)),
        'bad token signature',
      ],
      ['an expired token', signToken({ exp: now - 31 }, secret), 'token expired'],
      ['a token not yet valid', signToken({ exp: now + 600, nbf: now + 100 }, secret), 'token not yet valid'],
      ['a token without exp', signToken({ sub: 'x' } as never, secret), 'token has no exp'],
      ['alg none', forge({ alg: 'none' }, { exp: now + 60 }, ''), 'token algorithm must be HS256'],
      ['two parts', 'abc.def', 'malformed token'],
      ['garbage header', '!!!.e30.AAAA', 'malformed token header'],
    ])('refuses %s', (_name, token, reason) => {
      expect(verifyToken(token, secret, now)).toEqual({ ok: false, reason });
    });

    it('tolerates 30 s of clock skew', () => {
      expect(verifyToken(signToken({ exp: now - 29 }, secret), secret, now).ok).toBe(true);
    });
  });

  describe('#channelAllowed', () => {
    it.each([
      [undefined, 'any', true],
      [['chat'], 'chat', true],
      [['chat'], 'chat2', false],
      [['user:1:*'], 'user:1:inbox', true],
      [['user:1:*'], 'user:2:inbox', false],
    ])('with %j allows %s: %s', (channels, channel, expected) => {
      const claims = channels === undefined ? undefined : { exp: 0, channels };
      expect(channelAllowed(claims, channel)).toBe(expected);
    });
  });

  describe('#tokenFromRequest', () => {
    it('takes the query parameter first, then the subprotocol', () => {
      expect(tokenFromRequest(new URLSearchParams('token=abc'), new Set(['wsfleet-token.def']))).toBe('abc');
      expect(tokenFromRequest(new URLSearchParams(''), new Set(['wsfleet', 'wsfleet-token.def']))).toBe(
        'def',
      );
      expect(tokenFromRequest(new URLSearchParams(''), new Set(['wsfleet']))).toBeUndefined();
    });
  });
});
