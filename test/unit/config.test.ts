import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appOptions } from '../../daemons/app/config.ts';
import {
  envName,
  flagName,
  helpText,
  option,
  parseConfig,
  schemas,
  wantsHelp,
} from '../../daemons/shared/config.ts';
import { ConfigError } from '../../daemons/shared/errors.ts';

const options = {
  port: option({ schema: schemas.port(8080), description: 'Port', expected: 'an integer from 1 to 65535' }),
  redisUrl: option({
    schema: schemas.url(['redis:']).optional(),
    description: 'Redis',
    expected: 'a redis:// URL',
    secret: true,
  }),
  staging: option({
    schema: z.boolean().default(false),
    description: 'Staging',
    expected: 'true or false',
    kind: 'flag',
  }),
  cert: option({
    schema: z.array(z.string()).default([]),
    description: 'Cert',
    expected: 'names',
    kind: 'list',
  }),
  email: option({ schema: z.string().email(), description: 'Email', expected: 'an email address' }),
} as const;

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    parseConfig(options, argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('config', () => {
  describe('names', () => {
    it.each([
      ['redisUrl', '--redis-url', 'WSFLEET_REDIS_URL'],
      ['port', '--port', 'WSFLEET_PORT'],
      ['maxSendBufferBytes', '--max-send-buffer-bytes', 'WSFLEET_MAX_SEND_BUFFER_BYTES'],
    ])('derives %s as %s and %s', (key, flag, env) => {
      expect(flagName(key)).toBe(flag);
      expect(envName(key)).toBe(env);
    });
  });

  describe('#parseConfig', () => {
    it('applies defaults from the schemas', () => {
      const { config } = parseConfig(options, ['--email', 'a@b.co'], {});
      expect(config).toEqual({ port: 8080, redisUrl: undefined, staging: false, cert: [], email: 'a@b.co' });
      expect(Object.isFrozen(config)).toBe(true);
    });

    it('reads environment variables', () => {
      const { config } = parseConfig(options, [], {
        WSFLEET_PORT: '9000',
        WSFLEET_EMAIL: 'x@y.co',
        WSFLEET_STAGING: 'true',
        WSFLEET_CERT: 'a.example,www.a.example  b.example',
      });
      expect(config.port).toBe(9000);
      expect(config.staging).toBe(true);
      expect(config.cert).toEqual(['a.example,www.a.example', 'b.example']);
    });

    it('lets the flag win over the environment variable', () => {
      const { config } = parseConfig(options, ['--port=7000', '--email', 'a@b.co'], { WSFLEET_PORT: '9000' });
      expect(config.port).toBe(7000);
    });

    it('treats an empty value as unset', () => {
      const { config } = parseConfig(options, ['--email', 'a@b.co', '--port='], { WSFLEET_REDIS_URL: '' });
      expect(config.port).toBe(8080);
      expect(config.redisUrl).toBeUndefined();
    });

    it('collects repeated list flags', () => {
      const { config } = parseConfig(options, ['--cert', 'a', '--cert', 'b', '--email', 'a@b.co'], {});
      expect(config.cert).toEqual(['a', 'b']);
    });

    it('lists every problem at once', () => {
      const found = problems(['--port', '70000', '--bogus', '--redis-url', 'http://x'], {
        WSFLEET_STAGING: 'maybe',
      });
      expect(found).toEqual([
        'Unknown flag `--bogus`',
        'Expected `--port` (WSFLEET_PORT) to be an integer from 1 to 65535, got "70000"',
        'Expected `--redis-url` (WSFLEET_REDIS_URL) to be a redis:// URL, got (hidden)',
        'Expected `WSFLEET_STAGING` (--staging) to be true or false, got "maybe"',
        'Missing `--email` (WSFLEET_EMAIL): expected an email address',
      ]);
    });

    it('reports a flag given without its value', () => {
      expect(problems(['--email', 'a@b.co', '--port'])).toEqual([
        'Flag `--port` needs a value: an integer from 1 to 65535',
      ]);
    });

    it('refuses unexpected positional arguments', () => {
      expect(problems(['--email', 'a@b.co', 'extra'])).toEqual(['Unexpected argument "extra"']);
    });

    it('never echoes a secret value', () => {
      const err = (() => {
        try {
          parseConfig(appOptions, ['--api-key', 'short-secret'], {});
        } catch (e) {
          return e as ConfigError;
        }
        throw new Error('expected a ConfigError');
      })();
      expect(err.code).toBe('WSFLEET_CONFIG_INVALID');
      expect(err.message).not.toContain('short-secret');
      expect(err.message).toContain('(hidden)');
    });
  });

  describe('#helpText', () => {
    it('lists each flag with its variable and default', () => {
      const text = helpText('wsfleet app run [flags]', 'Run it.', appOptions);
      expect(text).toMatch(/--port <value>\s+WSFLEET_PORT\s+.*\(default: 8080\)/);
      expect(text).toMatch(/--redis-url <value>\s+WSFLEET_REDIS_URL/);
      expect(text).toMatch(/--host <value>\s+WSFLEET_HOST\s+.*\(default: 127\.0\.0\.1\)/);
      for (const key of Object.keys(appOptions)) expect(text).toContain(flagName(key));
    });
  });

  describe('#wantsHelp', () => {
    it.each([
      [['--help'], true],
      [['-h'], true],
      [['--port', '1', '--help'], true],
      [['--', '--help'], false],
      [['--port', '1'], false],
    ])('for %j is %s', (argv, expected) => {
      expect(wantsHelp(argv)).toBe(expected);
    });
  });
});
