import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisConnectionOf } from '../../daemons/app/redis-connection.ts';
import { ConfigError } from '../../daemons/shared/errors.ts';
import { createCertFactory } from '../helpers/certs.ts';

let dir: string;
let caPem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wsfleet-redis-connection-'));
  const certs = await createCertFactory();
  try {
    caPem = (await certs.root('Pretend Memorystore CA')).certPem;
  } finally {
    await certs.close();
  }
  await writeFile(join(dir, 'ca.pem'), `${caPem}${caPem}`);
  await writeFile(join(dir, 'garbage.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  await writeFile(join(dir, 'auth'), 'the-auth-string\n');
  await writeFile(join(dir, 'two-lines'), 'a\nb\n');
  await writeFile(join(dir, 'empty'), '\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function problemsOf(options: Parameters<typeof redisConnectionOf>[0]): readonly string[] {
  try {
    redisConnectionOf(options);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('redisConnectionOf', () => {
  it("reads the CAs and the password, the file's trailing newline not part of it", () => {
    const c = redisConnectionOf({
      redisUrl: 'rediss://10.0.0.3:6378',
      redisCaFile: join(dir, 'ca.pem'),
      redisPasswordFile: join(dir, 'auth'),
    });
    expect(c.password).toBe('the-auth-string');
    expect(c.ca?.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  it('leaves both out when no file is named', () => {
    expect(redisConnectionOf({ redisUrl: 'redis://10.0.0.3:6379' })).toEqual({
      url: 'redis://10.0.0.3:6379',
    });
  });

  it("lists every problem at once, naming flags and files but never a file's content", () => {
    const problems = problemsOf({
      redisUrl: 'redis://10.0.0.3:6379',
      redisCaFile: join(dir, 'garbage.pem'),
      redisPasswordFile: join(dir, 'two-lines'),
    });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('needs a rediss://');
    expect(problems[1]).toContain('`--redis-ca-file` to hold PEM certificates');
    expect(problems[2]).toContain('`--redis-password-file` to hold one line');
    expect(problems.join('\n')).not.toMatch(/AAAA|\ba\b.*\bb\b/);
  });

  it.each([
    ['a missing CA file', { redisCaFile: '/nonexistent/ca.pem' }, /readable file.*ENOENT/],
    ['a missing password file', { redisPasswordFile: '/nonexistent/auth' }, /readable file.*ENOENT/],
    ['an empty password', { redisPasswordFile: 'empty' }, /one line/],
  ])('refuses %s', (_name, files, expected) => {
    const options = Object.fromEntries(
      Object.entries(files).map(([k, v]) => [k, v.startsWith('/') ? v : join(dir, v)]),
    );
    const problems = problemsOf({ redisUrl: 'rediss://10.0.0.3:6378', ...options });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });
});
