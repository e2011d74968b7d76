import { describe, expect, it } from 'vitest';
import { checkKey, checkPrefix, compareKeys } from '../../daemons/shared/store/keys.ts';

const URL = 'file:///store';

describe('store keys', () => {
  it.each([
    'certs/example.com/current',
    'certs/*.example.com/versions/20300101T000000000Z-0a.json',
    'accounts/ab.json',
    'x',
    `${'a'.repeat(255)}/b`,
  ])('accepts %s', (key) => {
    expect(() => checkKey(key, URL)).not.toThrow();
  });

  it.each([
    { key: '', why: 'empty segment' },
    { key: '/abs', why: 'absolute' },
    { key: 'a/../b', why: 'starting with "."' },
    { key: '..', why: 'starting with "."' },
    { key: 'a/./b', why: 'starting with "."' },
    { key: 'a//b', why: 'empty segment' },
    { key: 'a/', why: 'empty segment' },
    { key: 'a\u0000b', why: 'NUL' },
    { key: 'line\nbreak', why: 'NUL or another control character' },
    { key: `${'a'.repeat(256)}`, why: 'longer than 255 bytes' },
    { key: Array.from({ length: 5 }, () => 'b'.repeat(250)).join('/'), why: 'longer than 1024 bytes' },
  ])('refuses $key ($why) with WSFLEET_STORE_INVALID', ({ key, why }) => {
    expect(() => checkKey(key, URL)).toThrow(
      expect.objectContaining({ code: 'WSFLEET_STORE_INVALID', message: expect.stringContaining(why) }),
    );
  });

  it.each(['', 'certs/', 'certs/exa', 'a/b/'])('accepts the list prefix "%s"', (prefix) => {
    expect(() => checkPrefix(prefix, URL)).not.toThrow();
  });

  it.each(['/x', '../', 'a//', 'a/.', 'a\u0000'])('refuses the list prefix "%s"', (prefix) => {
    expect(() => checkPrefix(prefix, URL)).toThrow(
      expect.objectContaining({ code: 'WSFLEET_STORE_INVALID' }),
    );
  });

  it('orders keys by their UTF-8 bytes, as GCS lists them', () => {
    const keys = ['b', 'a/b', 'a-b', 'é', 'z', '\u{1F600}', '\uFFFD'];
    expect([...keys].sort(compareKeys)).toEqual(['a-b', 'a/b', 'b', 'z', 'é', '\uFFFD', '\u{1F600}']);
  });
});
