/**
 * The lab's metadata server, Secret Manager and getAuthString stand-in (`wsfleet lab
 * google-double`), driven by the app VM's own boot commands: what a lab VM fetches goes through
 * the deploy's code path, and the stand-in refuses what Google refuses.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchSecrets } from '../../daemons/app/fetch-secrets-command.ts';
import { fetchRedisAuth } from '../../daemons/app/redis-auth-command.ts';
import { type GoogleDouble, startGoogleDouble } from '../../scripts/lab/google-double/server.ts';

describe('wsfleet lab google-double', () => {
  let dir: string;
  let double: GoogleDouble;
  let url: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-google-double-'));
    await mkdir(join(dir, 'secrets', 'wsfleet-lab'), { recursive: true });
    double = await startGoogleDouble({
      host: '127.0.0.1',
      port: 0,
      secretsDir: join(dir, 'secrets'),
      redisAuthFile: join(dir, 'redis-auth'),
    });
    url = `http://127.0.0.1:${double.port}`;
  });

  afterEach(async () => {
    await double.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const config = () => ({
    tokenSecretFrom: 'gcp:wsfleet-lab/lab-token-secret',
    apiKeyFrom: 'gcp:wsfleet-lab/lab-api-key',
    out: join(dir, 'app-secrets.env'),
    metadataUrl: url,
    secretManagerUrl: url,
    timeout: 10,
  });

  it('serves the secrets to wsfleet app fetch-secrets, each with its CRC32C, read from their files', async () => {
    await writeFile(join(dir, 'secrets/wsfleet-lab/lab-token-secret'), 's'.repeat(43));
    await writeFile(join(dir, 'secrets/wsfleet-lab/lab-api-key'), 'k'.repeat(43));
    await fetchSecrets(config());
    expect(await readFile(join(dir, 'app-secrets.env'), 'utf8')).toBe(
      `WSFLEET_TOKEN_SECRET=${'s'.repeat(43)}\nWSFLEET_API_KEY=${'k'.repeat(43)}\n`,
    );
  });

  it('answers a secret it does not hold 404 NOT_FOUND, which the fetch reports by name', async () => {
    await writeFile(join(dir, 'secrets/wsfleet-lab/lab-token-secret'), 's'.repeat(43));
    await expect(fetchSecrets(config())).rejects.toMatchObject({
      code: 'WSFLEET_SECRET_UNAVAILABLE',
      message: expect.stringMatching(
        /gcp:wsfleet-lab\/lab-api-key@latest: Secret Manager answered HTTP 404 NOT_FOUND/,
      ),
    });
  });

  it('gives the token only with Metadata-Flavor: Google, and never to a forwarded request, as GCE does', async () => {
    const token = `${url}/computeMetadata/v1/instance/service-accounts/default/token`;
    expect((await fetch(token)).status).toBe(403);
    expect(
      (await fetch(token, { headers: { 'Metadata-Flavor': 'Google', 'X-Forwarded-For': '10.0.0.9' } }))
        .status,
    ).toBe(403);
    const ok = await fetch(token, { headers: { 'Metadata-Flavor': 'Google' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('metadata-flavor')).toBe('Google');
    expect(await ok.json()).toMatchObject({
      token_type: 'Bearer',
      access_token: expect.stringMatching(/^ya29\./),
    });
  });

  it('refuses Secret Manager and getAuthString without the metadata token (401 UNAUTHENTICATED)', async () => {
    await writeFile(join(dir, 'secrets/wsfleet-lab/lab-api-key'), 'k'.repeat(43));
    for (const path of [
      '/v1/projects/wsfleet-lab/secrets/lab-api-key/versions/latest:access',
      '/v1/projects/wsfleet-lab/locations/lab/instances/redis/authString',
    ]) {
      const answer = await fetch(`${url}${path}`, { headers: { authorization: 'Bearer not-the-token' } });
      expect(answer.status).toBe(401);
      expect(await answer.json()).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED' } });
    }
  });

  it('serves the AUTH string to wsfleet app redis-auth, and 404 once it has none', async () => {
    const auth = {
      redisInstance: 'projects/wsfleet-lab/locations/lab/instances/redis',
      metadataUrl: `${url}/computeMetadata/v1`,
      redisApi: `${url}/v1`,
    };
    await writeFile(join(dir, 'redis-auth'), 'a-redis-auth-string\n');
    expect(await fetchRedisAuth(auth)).toBe('a-redis-auth-string');
    await rm(join(dir, 'redis-auth'));
    await expect(fetchRedisAuth(auth)).rejects.toMatchObject({ code: 'WSFLEET_REDIS_AUTH_UNAVAILABLE' });
  });
});
