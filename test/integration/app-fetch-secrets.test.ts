/**
 * An app VM's boot: `wsfleet app fetch-secrets` with a metadata server on loopback (the token, as
 * GCE serves it, only with `Metadata-Flavor: Google`) and the Secret Manager stand-in. The env
 * file is root's alone (0600) and holds both values; the command's output and errors hold none.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../daemons/app/crc32c.ts';
import { fetchSecrets } from '../../daemons/app/fetch-secrets-command.ts';
import { SecretError } from '../../daemons/app/secret-source.ts';
import { spawnCli } from '../helpers/app.ts';
import { type GcloudEndpoint, startGcloudEndpoint } from '../helpers/gcloud-endpoint.ts';
import { secretPath } from '../helpers/gcloud-endpoint-secrets.ts';

const TOKEN_SECRET = 't'.repeat(43);
const API_KEY = 'a'.repeat(43);

describe('wsfleet app fetch-secrets (metadata server and Secret Manager on loopback)', () => {
  let endpoint: GcloudEndpoint;
  let metadata: Server;
  let metadataUrl: string;
  let dir: string;
  const seen: { flavor: string | undefined }[] = [];

  beforeEach(async () => {
    endpoint = await startGcloudEndpoint();
    for (const [id, value] of [
      ['wsfleet-token-secret', TOKEN_SECRET],
      ['wsfleet-api-key', API_KEY],
    ] as const) {
      endpoint.resources.set(secretPath(id), { name: `projects/123456789012/secrets/${id}` });
      endpoint.resources.set(`${secretPath(id)}/versions`, {
        versions: [
          { number: 1, state: 'ENABLED', data: Buffer.from(value).toString('base64'), createTime: '' },
        ],
      });
    }
    metadata = createServer((req, res) => {
      seen.push({ flavor: req.headers['metadata-flavor'] as string | undefined });
      if (req.headers['metadata-flavor'] !== 'Google') {
        res.writeHead(403).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'metadata-flavor': 'Google' });
      res.end(JSON.stringify({ access_token: 'fake-access-token', expires_in: 3599, token_type: 'Bearer' }));
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    metadataUrl = `http://127.0.0.1:${(metadata.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-secrets-'));
  });

  afterEach(async () => {
    seen.length = 0;
    await new Promise<void>((resolve) => metadata.close(() => resolve()));
    await endpoint.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const config = (overrides: Record<string, unknown> = {}) => ({
    tokenSecretFrom: 'gcp:proj-test/wsfleet-token-secret',
    apiKeyFrom: 'gcp:proj-test/wsfleet-api-key',
    out: join(dir, 'app-secrets.env'),
    metadataUrl,
    secretManagerUrl: `${endpoint.url}/secretmanager/`,
    timeout: 10,
    ...overrides,
  });

  it('writes both values to a 0600 env file, with the VM token asked as GCE wants', async () => {
    await fetchSecrets(config());
    const out = join(dir, 'app-secrets.env');
    expect(await readFile(out, 'utf8')).toBe(
      `WSFLEET_TOKEN_SECRET=${TOKEN_SECRET}\nWSFLEET_API_KEY=${API_KEY}\n`,
    );
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(seen.every((s) => s.flavor === 'Google')).toBe(true);
    const accesses = endpoint.requests.filter((r) => r.path.endsWith(':access')).map((r) => r.path);
    expect(accesses).toEqual([
      '/secretmanager/v1/projects/proj-test/secrets/wsfleet-token-secret/versions/latest:access',
      '/secretmanager/v1/projects/proj-test/secrets/wsfleet-api-key/versions/latest:access',
    ]);
  });

  it('writes the version before the latest as *_PREVIOUS while it is enabled (a rotation), not once disabled', async () => {
    const NEW_TOKEN_SECRET = 'u'.repeat(43);
    const NEW_API_KEY = 'b'.repeat(43);
    const versions = (id: string) =>
      endpoint.resources.get(`${secretPath(id)}/versions`) as { versions: Record<string, unknown>[] };
    for (const [id, value] of [
      ['wsfleet-token-secret', NEW_TOKEN_SECRET],
      ['wsfleet-api-key', NEW_API_KEY],
    ] as const)
      versions(id).versions.push({
        number: 2,
        state: 'ENABLED',
        data: Buffer.from(value).toString('base64'),
        createTime: '',
      });
    const out = join(dir, 'app-secrets.env');
    await fetchSecrets(config());
    expect(await readFile(out, 'utf8')).toBe(
      [
        `WSFLEET_TOKEN_SECRET=${NEW_TOKEN_SECRET}`,
        `WSFLEET_TOKEN_SECRET_PREVIOUS=${TOKEN_SECRET}`,
        `WSFLEET_API_KEY=${NEW_API_KEY}`,
        `WSFLEET_API_KEY_PREVIOUS=${API_KEY}`,
        '',
      ].join('\n'),
    );
    // The rotation finished: the previous versions disabled, the next boot takes the new alone.
    for (const id of ['wsfleet-token-secret', 'wsfleet-api-key'])
      (versions(id).versions[0] as { state: string }).state = 'DISABLED';
    await fetchSecrets(config());
    expect(await readFile(out, 'utf8')).toBe(
      `WSFLEET_TOKEN_SECRET=${NEW_TOKEN_SECRET}\nWSFLEET_API_KEY=${NEW_API_KEY}\n`,
    );
  });

  it('names a secret it cannot read, shows no value, and leaves no file', async () => {
    const error = await fetchSecrets(config({ apiKeyFrom: 'gcp:proj-test/missing' })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SecretError);
    expect((error as SecretError).code).toBe('WSFLEET_SECRET_UNAVAILABLE');
    expect((error as Error).message).toBe(
      'cannot read gcp:proj-test/missing@latest: Secret Manager answered HTTP 404 NOT_FOUND',
    );
    expect((error as Error).message).not.toContain(TOKEN_SECRET);
    await expect(stat(join(dir, 'app-secrets.env'))).rejects.toThrow();
  });

  it('refuses a payload whose CRC32C does not match', async () => {
    const corrupt = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ payload: { data: Buffer.from(API_KEY).toString('base64'), dataCrc32c: '1' } }),
      );
    });
    await new Promise<void>((resolve) => corrupt.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(corrupt.address() as AddressInfo).port}`;
      await expect(fetchSecrets(config({ secretManagerUrl: url }))).rejects.toThrow(
        'cannot read gcp:proj-test/wsfleet-token-secret@latest: the payload does not match its CRC32C',
      );
    } finally {
      await new Promise<void>((resolve) => corrupt.close(() => resolve()));
    }
  });

  it('says when the metadata server is not there', async () => {
    await expect(fetchSecrets(config({ metadataUrl: `${endpoint.url}/none` }))).rejects.toThrow(
      "cannot read the VM's service-account token: the metadata server answered HTTP 404",
    );
  });

  /**
   * Secret Manager as it answers a VM booted seconds after its account's grant: PERMISSION_DENIED
   * for the first `denials` requests, then the values.
   */
  async function propagatingGrant(denials: number, status = 403, planted?: string) {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      if (paths.length <= denials) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { code: status, message: 'Permission denied on resource', status: 'PERMISSION_DENIED' },
          }),
        );
        return;
      }
      const value = Buffer.from(planted ?? (req.url?.includes('api-key') ? API_KEY : TOKEN_SECRET));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          name: `projects/123456789012/secrets/x/versions/1`,
          payload: { data: value.toString('base64'), dataCrc32c: String(crc32c(value)) },
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, paths, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  const cliArgs = (secretManagerUrl: string, retryFor: number) => [
    'app',
    'fetch-secrets',
    '--token-secret-from',
    'gcp:proj-test/wsfleet-token-secret',
    '--api-key-from',
    'gcp:proj-test/wsfleet-api-key',
    '--out',
    join(dir, 'app-secrets.env'),
    '--metadata-url',
    metadataUrl,
    '--secret-manager-url',
    secretManagerUrl,
    '--retry-for',
    String(retryFor),
  ];

  it('tries again while the grant has not propagated (403), then writes both values (the real CLI)', async () => {
    const sm = await propagatingGrant(2);
    try {
      const cli = spawnCli(cliArgs(sm.url, 60));
      const { code } = await cli.exited;
      expect(code).toBe(0);
      const env = await readFile(join(dir, 'app-secrets.env'), 'utf8');
      expect(env).toContain(`WSFLEET_TOKEN_SECRET=${TOKEN_SECRET}\n`);
      expect(env).toContain(`WSFLEET_API_KEY=${API_KEY}\n`);
      const stderr = cli.stderr.join('');
      expect(stderr.match(/trying again in \d+\.\d s/g)).toHaveLength(2);
      expect(stderr).toContain('HTTP 403 PERMISSION_DENIED');
      expect(stderr).toContain('its grant has not propagated yet');
      expect(stderr).not.toContain(TOKEN_SECRET);
      expect(sm.paths.filter((p) => p.includes('wsfleet-token-secret'))).toHaveLength(3);
    } finally {
      await sm.close();
    }
  });

  it('fails at once with --retry-for 0, and on a failure that does not pass (404) whatever the window', async () => {
    const denied = await propagatingGrant(1);
    const missing = await propagatingGrant(1, 404);
    try {
      const once = spawnCli(cliArgs(denied.url, 0));
      expect((await once.exited).code).toBe(1);
      expect(once.stderr.join('')).toContain('WSFLEET_SECRET_UNAVAILABLE');
      expect(denied.paths).toHaveLength(1);

      const gone = spawnCli(cliArgs(missing.url, 60));
      expect((await gone.exited).code).toBe(1);
      expect(gone.stderr.join('')).toContain('HTTP 404');
      expect(gone.stderr.join('')).not.toContain('trying again');
      expect(missing.paths).toHaveLength(1);
      await expect(stat(join(dir, 'app-secrets.env'))).rejects.toThrow();
    } finally {
      await denied.close();
      await missing.close();
    }
  });

  it.each(['with\\backslash', '"quoted"', "it's"])(
    'refuses a value systemd would read changed (%s)',
    async (value) => {
      const sm = await propagatingGrant(0, 403, value);
      try {
        await expect(fetchSecrets(config({ secretManagerUrl: sm.url }))).rejects.toThrow(
          'cannot read gcp:proj-test/wsfleet-token-secret@latest: the value holds a quote or a backslash',
        );
        await expect(stat(join(dir, 'app-secrets.env'))).rejects.toThrow();
      } finally {
        await sm.close();
      }
    },
  );
});
