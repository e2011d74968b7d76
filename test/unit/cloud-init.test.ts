import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envValueProblem, formatEnvFile, quoteEnvValue } from '../../cloud-init/env-file.ts';
import {
  type AppValues,
  DIRECTORY_CA_FILE,
  EXTRA_ROOTS_FILE,
  envFiles,
  type RenewerValues,
  redisUrlProblem,
  renderUserData,
  unitsOf,
} from '../../cloud-init/render.ts';
import { yamlString } from '../../cloud-init/yaml.ts';
import { appOptions } from '../../daemons/app/config.ts';
import { certSyncOptions } from '../../daemons/cert-sync/config.ts';
import { renewerOptions } from '../../daemons/renewer/config.ts';
import { parseConfig } from '../../daemons/shared/config.ts';
import { ConfigError } from '../../daemons/shared/errors.ts';

const run = promisify(execFile);

/**
 * Reads an environment file as systemd 252 does for EnvironmentFile= (src/basic/env-file.c,
 * summarised in systemd.exec(5)): `#`/`;` lines are comments (a trailing backslash continues
 * them); `KEY=VALUE` with blanks around both trimmed; single quotes keep everything; inside
 * double quotes a backslash escapes only `"`, `\`, `` ` `` and `$` and is otherwise kept; outside
 * quotes a backslash escapes any character; a backslash-newline continues the line.
 */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  type State =
    | 'preKey'
    | 'key'
    | 'preValue'
    | 'value'
    | 'valueEsc'
    | 'single'
    | 'double'
    | 'doubleEsc'
    | 'comment'
    | 'commentEsc';
  let state: State = 'preKey';
  let key = '';
  let value = '';
  let trailing = -1; // where trailing blanks of an unquoted value start
  const blank = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  const newline = (c: string) => c === '\n' || c === '\r';
  const push = (chomp: boolean) => {
    env[key.trimEnd()] = chomp && trailing !== -1 ? value.slice(0, trailing) : value;
    key = '';
    value = '';
    trailing = -1;
  };
  for (const c of text) {
    switch (state) {
      case 'preKey':
        if (c === '#' || c === ';') state = 'comment';
        else if (!blank(c)) {
          state = 'key';
          key = c;
        }
        break;
      case 'key':
        if (newline(c)) {
          state = 'preKey';
          key = '';
        } else if (c === '=') {
          state = 'preValue';
          trailing = -1;
        } else key += c;
        break;
      case 'preValue':
        if (newline(c)) {
          state = 'preKey';
          push(false);
        } else if (c === "'") state = 'single';
        else if (c === '"') state = 'double';
        else if (c === '\\') state = 'valueEsc';
        else if (!blank(c)) {
          state = 'value';
          value += c;
        }
        break;
      case 'value':
        if (newline(c)) {
          state = 'preKey';
          push(true);
        } else if (c === '\\') {
          state = 'valueEsc';
          trailing = -1;
        } else {
          if (!blank(c)) trailing = -1;
          else if (trailing === -1) trailing = value.length;
          value += c;
        }
        break;
      case 'valueEsc':
        state = 'value';
        if (!newline(c)) value += c;
        break;
      case 'single':
        if (c === "'") state = 'preValue';
        else value += c;
        break;
      case 'double':
        if (c === '"') state = 'preValue';
        else if (c === '\\') state = 'doubleEsc';
        else value += c;
        break;
      case 'doubleEsc':
        state = 'double';
        if ('"\\`$'.includes(c)) value += c;
        else if (c !== '\n') value += `\\${c}`;
        break;
      case 'comment':
        if (c === '\\') state = 'commentEsc';
        else if (newline(c)) state = 'preKey';
        break;
      case 'commentEsc':
        state = 'comment';
        break;
    }
  }
  if (['preValue', 'value', 'valueEsc', 'single', 'double', 'doubleEsc'].includes(state))
    push(state === 'value');
  return env;
}

/** What cloud-init itself reads from user-data: PyYAML's safe_load, as JSON. */
async function loadYaml(text: string): Promise<unknown> {
  const child = spawn(
    'python3',
    ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  child.stdin.end(text);
  let out = '';
  for await (const chunk of child.stdout) out += String(chunk);
  const code = await new Promise((resolve) => child.on('close', resolve));
  expect(code).toBe(0);
  return JSON.parse(out);
}

interface WriteFile {
  path: string;
  owner: string;
  permissions: string;
  content: string;
}

interface UserData {
  write_files: WriteFile[];
  runcmd: string[][];
}

/** Every printable ASCII character but none of them at the ends, so blanks are not in question. */
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

const TYPICAL_APP: AppValues = {
  certs: [['ws.example.com']],
  store: 'gs://example-wsfleet-certs',
  renewer: '10.128.0.5:80',
  redisUrl: 'redis://10.128.0.3:6379',
};

const EDGE_APP: AppValues = {
  certs: [['ws.example.com', 'www.example.com'], ['api.example.net']],
  store: 'gs://example-wsfleet-certs/prod/eu',
  gcsEndpoint: 'http://127.0.0.1:4443',
  staging: true,
  logLevel: 'debug',
  renewer: 'renewer.c.example.internal:80',
  redisUrl: `rediss://default:${encodeURIComponent('p"a$s`w\\o#r;d é 😀')}@[fd20:1::3]:6380/2`,
  nodeName: "node #1 'eu' $HOST ; é",
  allowedOrigins: ['https://app.example.com', 'http://localhost:3000'],
  apiKey: `  ${PRINTABLE}  `,
  tokenSecret: `x${'"\\$`'.repeat(10)}漢字😀`,
  extraRoots: '/etc/wsfleet/extra roots.pem',
};

/** An app VM as the deploy makes it: secrets and the Redis AUTH string fetched at boot, by name. */
const DEPLOYED_APP: AppValues = {
  ...TYPICAL_APP,
  redisUrl: 'rediss://10.128.0.3:6378',
  redisAuthFrom: 'projects/proj-test/locations/europe-west4/instances/wsfleet-redis',
  tokenSecretFrom: 'gcp:proj-test/wsfleet-token-secret',
  apiKeyFrom: 'gcp:proj-test/wsfleet-api-key@3',
  clientPublish: false,
};

const TYPICAL_RENEWER: RenewerValues = {
  certs: [['ws.example.com']],
  store: 'gs://example-wsfleet-certs',
  email: 'ops@example.com',
};

const EDGE_RENEWER: RenewerValues = {
  certs: [['ws.example.com', 'www.example.com'], ['api.example.net']],
  store: 'gs://example.wsfleet.certs/a/b',
  gcsEndpoint: 'https://storage.example.test',
  email: 'ops+acme@example.com',
  directoryUrl: 'https://acme.example.test/directory?x=1&y=$2',
  eabKid: 'kid-"1"',
  eabHmacKey: 'aGVsbG8_d29ybGQ-',
  profile: 'shortlived',
  logLevel: 'trace',
};

/** A certificate's shape is all the user-data checks; this one is not a real certificate. */
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n';

/** The lab's values: a private CA, its DNS, a shorter poll, and its Google API stand-ins. */
const LAB_APP: AppValues = {
  ...TYPICAL_APP,
  tokenSecretFrom: 'gcp:wsfleet-lab/lab-token-secret',
  apiKeyFrom: 'gcp:wsfleet-lab/lab-api-key',
  metadataUrl: 'http://10.213.0.1:8089',
  secretManagerUrl: 'http://10.213.0.1:8089',
  gcsEndpoint: 'http://10.213.0.1:4443',
  extraRootsPem: `${PEM}${PEM}`,
  pollInterval: 5,
};

const LAB_RENEWER: RenewerValues = {
  ...TYPICAL_RENEWER,
  directoryUrl: 'https://10.213.0.1:14000/dir',
  directoryCaPem: PEM.trimEnd(),
  dnsServer: '10.213.0.1:8053',
};

const CASES = [
  ['app', 'typical', TYPICAL_APP],
  ['app', 'edge', EDGE_APP],
  ['app', 'deployed', DEPLOYED_APP],
  ['app', 'lab', LAB_APP],
  ['renewer', 'typical', TYPICAL_RENEWER],
  ['renewer', 'edge', EDGE_RENEWER],
  ['renewer', 'lab', LAB_RENEWER],
] as const;

/** The PEM files a role's values should write (0644), by path. */
function expectedPem(v: AppValues | RenewerValues): Record<string, string> {
  const out: Record<string, string> = {};
  if ('extraRootsPem' in v && v.extraRootsPem !== undefined) out[EXTRA_ROOTS_FILE] = v.extraRootsPem;
  if ('directoryCaPem' in v && v.directoryCaPem !== undefined)
    out[DIRECTORY_CA_FILE] = `${v.directoryCaPem}\n`;
  return out;
}

/** The variables a role's values should set, per env file, as the daemons expect them. */
function expectedEnv(
  role: 'app' | 'renewer',
  v: AppValues | RenewerValues,
): Record<string, Record<string, string>> {
  const certs = v.certs.map((set) => set.join(',')).join(' ');
  const defined = (entries: Array<[string, string | boolean | undefined]>) =>
    Object.fromEntries(entries.filter(([, x]) => x !== undefined).map(([k, x]) => [k, String(x)]));
  if (role === 'app') {
    const a = v as AppValues;
    return {
      '/etc/wsfleet/app.env': defined([
        ['WSFLEET_REDIS_URL', a.redisUrl],
        ['WSFLEET_NODE_NAME', a.nodeName],
        ['WSFLEET_ALLOWED_ORIGINS', a.allowedOrigins?.join(',')],
        ['WSFLEET_API_KEY', a.apiKey],
        ['WSFLEET_TOKEN_SECRET', a.tokenSecret],
        ['WSFLEET_CLIENT_PUBLISH', a.clientPublish],
        ['WSFLEET_LOG_LEVEL', a.logLevel],
      ]),
      '/etc/wsfleet/cert-sync.env': defined([
        ['WSFLEET_CERT', certs],
        ['WSFLEET_STORE', a.store],
        ['WSFLEET_GCS_ENDPOINT', a.gcsEndpoint],
        ['WSFLEET_RENEWER', a.renewer],
        ['WSFLEET_STAGING', a.staging],
        ['WSFLEET_EXTRA_ROOTS', a.extraRootsPem === undefined ? a.extraRoots : EXTRA_ROOTS_FILE],
        ['WSFLEET_POLL_INTERVAL', a.pollInterval?.toString()],
        ['WSFLEET_LOG_LEVEL', a.logLevel],
      ]),
      ...(a.tokenSecretFrom === undefined
        ? {}
        : {
            '/etc/wsfleet/app-secrets.env': defined([
              ['WSFLEET_TOKEN_SECRET_FROM', a.tokenSecretFrom],
              ['WSFLEET_API_KEY_FROM', a.apiKeyFrom],
              ['WSFLEET_METADATA_URL', a.metadataUrl],
              ['WSFLEET_SECRET_MANAGER_URL', a.secretManagerUrl],
            ]),
          }),
      ...(a.redisAuthFrom === undefined
        ? {}
        : {
            '/etc/wsfleet/app-redis-auth.env': defined([
              ['WSFLEET_REDIS_INSTANCE', a.redisAuthFrom],
              ['WSFLEET_METADATA_URL', a.metadataUrl && `${a.metadataUrl}/computeMetadata/v1`],
              ['WSFLEET_REDIS_API', a.redisApi],
            ]),
          }),
    };
  }
  const r = v as RenewerValues;
  return {
    '/etc/wsfleet/renewer.env': defined([
      ['WSFLEET_CERT', certs],
      ['WSFLEET_STORE', r.store],
      ['WSFLEET_GCS_ENDPOINT', r.gcsEndpoint],
      ['WSFLEET_EMAIL', r.email],
      ['WSFLEET_DIRECTORY_URL', r.directoryUrl],
      ['WSFLEET_STAGING', r.staging],
      ['WSFLEET_EAB_KID', r.eabKid],
      ['WSFLEET_EAB_HMAC_KEY', r.eabHmacKey],
      ['WSFLEET_PROFILE', r.profile],
      ['WSFLEET_DIRECTORY_CA', r.directoryCaPem === undefined ? undefined : DIRECTORY_CA_FILE],
      ['WSFLEET_DNS_SERVER', r.dnsServer],
      ['WSFLEET_LOG_LEVEL', r.logLevel],
    ]),
  };
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('WSFLEET_CONFIG_INVALID');
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('renderUserData', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-cloud-init-'));
    await run('cloud-init', ['--version']).catch((err: unknown) => {
      throw new Error(
        'cloud-init is not installed (Debian package cloud-init): its schema check is the test',
        {
          cause: err,
        },
      );
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe.each(CASES)('for the %s role with %s values', (role, kind, values) => {
    let text: string;
    let data: UserData;
    beforeAll(async () => {
      text = renderUserData(role, values as never);
      data = (await loadYaml(text)) as UserData;
    });

    it('passes `cloud-init schema` without a warning', async () => {
      const file = join(dir, `${role}-${kind}.yaml`);
      await writeFile(file, text);
      // Python's own warnings (of a library cloud-init imports) are not about the user-data; the
      // success line's wording changed across cloud-init releases ("Valid cloud-config", "Valid
      // schema"); a deprecated or invalid key is reported on either stream.
      const { stdout, stderr } = await run('cloud-init', ['schema', '--config-file', file], {
        env: { ...process.env, PYTHONWARNINGS: 'ignore' },
      });
      expect(stdout).toMatch(/^Valid (?:cloud-config|schema)\b/m);
      expect(`${stdout}\n${stderr}`).not.toMatch(/deprecat|invalid|error|warning/i);
    });

    it('starts with #cloud-config', () => {
      expect(text.split('\n')[0]).toBe('#cloud-config');
    });

    it("writes root's env files, mode 0600, that read back as the given values, and the PEM files 0644", () => {
      const expected = expectedEnv(role, values);
      const pems = expectedPem(values);
      expect(data.write_files.map((f) => f.path).sort()).toEqual(
        [...Object.keys(expected), ...Object.keys(pems)].sort(),
      );
      for (const f of data.write_files) {
        expect(f.owner).toBe('root:root');
        if (f.path.endsWith('.env')) {
          expect(f.permissions).toBe('0600');
          expect(parseEnvFile(f.content)).toEqual(expected[f.path]);
        } else {
          expect(f.permissions).toBe('0644');
          expect(f.content).toBe(pems[f.path]);
        }
      }
    });

    it('writes settings each daemon accepts, with the values given', () => {
      const files = Object.fromEntries(data.write_files.map((f) => [f.path, parseEnvFile(f.content)]));
      if (role === 'app') {
        const app = parseConfig(appOptions, [], files['/etc/wsfleet/app.env'] ?? {}).config;
        const sync = parseConfig(certSyncOptions, [], files['/etc/wsfleet/cert-sync.env'] ?? {}).config;
        const v = values as AppValues;
        expect(app.redisUrl).toBe(v.redisUrl);
        expect(app.apiKey).toBe(v.apiKey);
        expect(app.tokenSecret).toBe(v.tokenSecret);
        if (v.nodeName !== undefined) expect(app.nodeName).toBe(v.nodeName);
        expect(sync.cert.map((c) => c.domains)).toEqual(v.certs);
        expect(sync.renewer).toBe(v.renewer);
        expect(sync.store).toBe(v.store);
      } else {
        const renewer = parseConfig(renewerOptions, [], files['/etc/wsfleet/renewer.env'] ?? {}).config;
        const v = values as RenewerValues;
        expect(renewer.cert.map((c) => c.domains)).toEqual(v.certs);
        expect(renewer.email).toBe(v.email);
        expect(renewer.eabHmacKey).toBe(v.eabHmacKey);
        expect(renewer.directoryUrl).toBe(v.directoryUrl);
      }
    });

    it('enables and starts its units in one command, without a shell: the boot oneshots first', () => {
      const app = values as AppValues;
      const oneshots =
        role === 'app'
          ? [
              ...(app.tokenSecretFrom === undefined ? [] : ['wsfleet-app-secrets.service']),
              ...(app.redisAuthFrom === undefined ? [] : ['wsfleet-app-redis-auth.service']),
            ]
          : [];
      expect(data.runcmd).toEqual([['systemctl', 'enable', '--now', ...oneshots, ...unitsOf(role)]]);
      expect(unitsOf(role, values as never)).toEqual([...oneshots, ...unitsOf(role)]);
    });

    it('has no other cloud-config module (no packages, no scripts) and leaves the locale to the image', () => {
      expect(Object.keys(data).sort()).toEqual(['locale', 'runcmd', 'write_files']);
      expect((data as unknown as { locale: string }).locale).toBe('false');
    });
  });

  it('leaves the node name to the hostname, which GCE sets to the instance name', () => {
    const files = envFiles('app', TYPICAL_APP);
    expect(files['/etc/wsfleet/app.env']).not.toContain('WSFLEET_NODE_NAME');
  });

  describe('refuses bad values', () => {
    it.each<[string, Record<string, unknown>, RegExp]>([
      ['no certificate', { ...TYPICAL_APP, certs: [] }, /`certs` must list at least one certificate/],
      ['an empty name set', { ...TYPICAL_APP, certs: [[]] }, /`certs` entries must be non-empty lists/],
      [
        'a name with a space',
        { ...TYPICAL_APP, certs: [['a.example b.example']] },
        /hold no spaces or commas/,
      ],
      ['a wildcard', { ...TYPICAL_APP, certs: [['*.example.com']] }, /wildcards need DNS-01/],
      [
        'a file store',
        { ...TYPICAL_APP, store: 'file:///var/lib/wsfleet/store' },
        /`store` must be a gs:\/\//,
      ],
      ['a bad bucket', { ...TYPICAL_APP, store: 'gs://A_B' }, /not a bucket name/],
      ['a renewer without a port', { ...TYPICAL_APP, renewer: '10.0.0.5' }, /WSFLEET_RENEWER.*host:port/],
      ['no renewer', { ...TYPICAL_APP, renewer: undefined }, /Missing `--renewer` \(WSFLEET_RENEWER\)/],
      ['a Redis named by DNS', { ...TYPICAL_APP, redisUrl: 'redis://redis.internal:6379' }, /by IP address/],
      ['a public Redis', { ...TYPICAL_APP, redisUrl: 'redis://203.0.113.7:6379' }, /outside the networks/],
      ['an http Redis URL', { ...TYPICAL_APP, redisUrl: 'http://10.0.0.3' }, /WSFLEET_REDIS_URL/],
      ['a short API key', { ...TYPICAL_APP, apiKey: 'short' }, /WSFLEET_API_KEY/],
      [
        'a newline',
        { ...TYPICAL_APP, nodeName: 'a\nWSFLEET_PORT=1' },
        /`nodeName` has a control character \(U\+000A\)/,
      ],
      [
        'a NUL',
        { ...TYPICAL_APP, renewer: '10.0.0.5:80\0' },
        /`renewer` has a control character \(U\+0000\)/,
      ],
      ['a lone surrogate', { ...TYPICAL_APP, nodeName: 'a\uD800' }, /not valid Unicode/],
      [
        'an origin with a comma',
        { ...TYPICAL_APP, allowedOrigins: ['https://a,https://b'] },
        /`allowedOrigins` items/,
      ],
      ['a number for a string', { ...TYPICAL_APP, nodeName: 7 }, /`nodeName` must be a string/],
      [
        'an unknown value',
        { ...TYPICAL_APP, email: 'x@example.com' },
        /Unknown value \["email"\] for role app/,
      ],
      [
        'staging and a directory',
        { ...TYPICAL_RENEWER, staging: true, directoryUrl: 'https://a.test/d' },
        /not both/,
      ],
      ['half an EAB pair', { ...TYPICAL_RENEWER, eabKid: 'kid' }, /go together/],
      [
        'roots given twice',
        { ...TYPICAL_APP, extraRoots: '/etc/r.pem', extraRootsPem: PEM },
        /Give `extraRoots` or `extraRootsPem`, not both/,
      ],
      ['roots that are not PEM', { ...TYPICAL_APP, extraRootsPem: 'roots' }, /`extraRootsPem` must be PEM/],
      [
        'a directory CA key',
        { ...TYPICAL_RENEWER, directoryCaPem: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n' },
        /`directoryCaPem` must be PEM/,
      ],
      [
        'a secret both as a value and by name',
        { ...DEPLOYED_APP, tokenSecret: 'x'.repeat(32) },
        /Give `tokenSecret` or `tokenSecretFrom`, not both/,
      ],
      [
        'one secret by name without the other',
        { ...TYPICAL_APP, tokenSecretFrom: 'gcp:proj-test/s' },
        /Missing `--api-key-from` \(WSFLEET_API_KEY_FROM\)/,
      ],
      [
        'a secret name that is not gcp:PROJECT/SECRET',
        { ...DEPLOYED_APP, apiKeyFrom: 'projects/proj-test/secrets/k' },
        /WSFLEET_API_KEY_FROM/,
      ],
      [
        'a metadata server with a path',
        { ...DEPLOYED_APP, metadataUrl: 'http://10.0.0.1/computeMetadata/v1' },
        /`metadataUrl` must be the metadata server's origin/,
      ],
      [
        'a metadata server with nothing to fetch',
        { ...TYPICAL_APP, metadataUrl: 'http://10.0.0.1' },
        /`metadataUrl` is for the boot fetches/,
      ],
      ['a poll interval of 0', { ...TYPICAL_APP, pollInterval: 0 }, /WSFLEET_POLL_INTERVAL/],
      ['a poll interval as text', { ...TYPICAL_APP, pollInterval: '5' }, /`pollInterval` must be a number/],
      ['a DNS server by name', { ...TYPICAL_RENEWER, dnsServer: 'dns.example' }, /WSFLEET_DNS_SERVER/],
      ['a bad email', { ...TYPICAL_RENEWER, email: 'not-an-email' }, /WSFLEET_EMAIL/],
    ])('refuses %s', (_what, values, problem) => {
      // The app's values name the renewer; the renewer's never do.
      const role = 'renewer' in values ? 'app' : 'renewer';
      const problems = problemsOf(() => renderUserData(role, values as never));
      expect(problems.join('\n')).toMatch(problem);
    });

    it('lists every problem at once', () => {
      const problems = problemsOf(() =>
        renderUserData('app', {
          certs: [],
          store: 's3://x',
          renewer: 'nope',
          redisUrl: 'redis://redis.internal',
          nodeName: 'a\tb',
        }),
      );
      expect(problems).toHaveLength(5);
    });

    it('never quotes a secret back', () => {
      const secret = 'not-long-enough';
      const problems = problemsOf(() =>
        renderUserData('app', {
          ...TYPICAL_APP,
          apiKey: secret,
          tokenSecret: `${secret}\n`,
          redisUrl: `redis://:${secret}@x`,
        }),
      );
      expect(problems.join('\n')).not.toContain(secret);
    });
  });
});

describe('redisUrlProblem', () => {
  it.each([
    ['redis://127.0.0.1:6379', undefined],
    ['redis://10.1.2.3', undefined],
    ['redis://172.31.255.1', undefined],
    ['redis://192.168.1.1', undefined],
    ['redis://[::1]:6379', undefined],
    ['redis://[fd00::1]:6379', undefined],
    ['redis://172.32.0.1', /outside/],
    ['redis://[2001:db8::1]', /outside/],
    ['redis://169.254.169.254', /outside/],
    ['redis://localhost:6379', /by IP address/],
  ])('%s: %s', (url, problem) => {
    const found = redisUrlProblem(url);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toMatch(problem);
  });
});

describe('environment files', () => {
  it.each([
    '',
    'plain',
    '  blanks at both ends  ',
    'quotes " and \' and `ticks`',
    'dollars $HOME $(HOME) $$ $',
    'backslashes \\ \\\\ \\n \\" end\\',
    '# not a comment ; nor this',
    'a=b=c',
    PRINTABLE,
    'é 漢字 😀 \u2028 \u00a0',
  ])('writes %j so that systemd reads it back unchanged', (value) => {
    const text = formatEnvFile(['a comment'], [['WSFLEET_X', value]]);
    expect(parseEnvFile(text)).toEqual({ WSFLEET_X: value });
  });

  it.each([
    ['a\nb', /U\+000A/],
    ['a\rb', /U\+000D/],
    ['a\tb', /U\+0009/],
    ['a\0b', /U\+0000/],
    ['a\u007fb', /U\+007F/],
    ['a\u0085b', /U\+0085/],
    ['a\udc00b', /lone surrogate/],
    ['a\ud800', /lone surrogate/],
  ])('refuses %j', (value, problem) => {
    expect(envValueProblem(value)).toMatch(problem);
    expect(() => quoteEnvValue(value)).toThrow(problem);
  });

  it.each(['two\nlines', 'continued \\'])('refuses the comment %j', (comment) => {
    expect(() => formatEnvFile([comment], [])).toThrow(/Not a one-line comment/);
  });

  it('refuses a name systemd would ignore', () => {
    expect(() => formatEnvFile([], [['1BAD', 'x']])).toThrow(/Not an environment variable name/);
  });
});

describe('yamlString', () => {
  it.each([
    'plain',
    ': colon # hash - dash',
    '"quoted" \\ back',
    'line\nbreaks\tand tabs',
    'é 漢字 😀',
    'PyYAML line breaks: \u0085 \u2028 \u2029',
    'controls \u0001 \u007f \u009f',
    '- [a, b] {c: d} & * ! | > % @ `',
    "' single",
  ])('writes %j so that PyYAML reads it back unchanged', async (value) => {
    expect(await loadYaml(`v: ${yamlString(value)}\n`)).toEqual({ v: value });
  });

  it('refuses text that is not valid Unicode', () => {
    expect(() => yamlString('a\ud800')).toThrow(/lone surrogate/);
  });
});
