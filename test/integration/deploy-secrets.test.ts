/**
 * The fleet's secrets against the stand-in, with the real gcloud: Secret Manager as gcloud calls
 * it, a deploy that makes each secret once (a value no request but its own `addVersion` carries,
 * no output shows and no file keeps), readable by the app account alone, and left alone by the
 * next deploy.
 */
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyToken } from '../../daemons/app/token.ts';
import { deploy } from '../../scripts/deploy/deploy-command.ts';
import { SECRET_ACCESSOR } from '../../scripts/deploy/plan-secrets.ts';
import { BUNDLE } from '../helpers/app.ts';
import { type GcloudEndpoint, startGcloudEndpoint } from '../helpers/gcloud-endpoint.ts';
import {
  addFirstImages,
  type FleetFixture,
  fleetDocument,
  startFleetFixture,
} from '../helpers/gcloud-endpoint-fleet.ts';
import { secretPath } from '../helpers/gcloud-endpoint-secrets.ts';

const APP_ACCOUNT = 'serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com';

/** The values of a secret's versions, oldest first, as the stand-in keeps them. */
function valuesOf(endpoint: GcloudEndpoint, id: string): string[] {
  const versions = (endpoint.resources.get(`${secretPath(id)}/versions`)?.versions ?? []) as {
    data: string;
  }[];
  return versions.map((v) => Buffer.from(v.data, 'base64').toString('utf8'));
}

describe('Secret Manager in the stand-in (real gcloud)', () => {
  let endpoint: GcloudEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.stop();
    endpoint = undefined;
  });

  const gcloud = async (e: GcloudEndpoint, args: string[], input?: string) =>
    execa('gcloud', [...args, '--project=proj-test', '--quiet'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...e.env },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
      ...(input === undefined ? {} : { input }),
    });

  it('creates a secret with a value, adds versions, reads the latest and grants access per secret', {
    timeout: 300_000,
  }, async () => {
    endpoint = await startGcloudEndpoint();
    const created = await gcloud(
      endpoint,
      ['secrets', 'create', 's1', '--replication-policy=automatic', '--data-file=-'],
      'first value',
    );
    expect(created.stderr).toContain('Created version [1] of the secret [s1]');
    expect(created.exitCode).toBe(0);
    expect(
      (await gcloud(endpoint, ['secrets', 'versions', 'add', 's1', '--data-file=-'], 'second')).exitCode,
    ).toBe(0);
    const latest = await gcloud(endpoint, ['secrets', 'versions', 'access', 'latest', '--secret=s1']);
    expect(latest.exitCode).toBe(0);
    expect(latest.stdout).toBe('second');
    expect((await gcloud(endpoint, ['secrets', 'versions', 'access', '1', '--secret=s1'])).stdout).toBe(
      'first value',
    );
    const bind = await gcloud(endpoint, [
      'secrets',
      'add-iam-policy-binding',
      's1',
      `--member=${APP_ACCOUNT}`,
      `--role=${SECRET_ACCESSOR}`,
      '--format=json',
    ]);
    expect(bind.exitCode).toBe(0);
    expect(JSON.parse(bind.stdout)).toMatchObject({
      bindings: [{ role: SECRET_ACCESSOR, members: [APP_ACCOUNT] }],
    });
    // A missing secret is a 404 gcloud reports as NOT_FOUND.
    const missing = await gcloud(endpoint, ['secrets', 'versions', 'access', 'latest', '--secret=nope']);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/NOT_FOUND|not found/i);
  });
});

describe('wsfleet deploy and the fleet secrets (real gcloud)', () => {
  let fleet: FleetFixture | undefined;

  afterEach(async () => {
    await fleet?.close();
    fleet = undefined;
  });

  it('makes each secret once, readable by the app account alone, its value in no request, output or file', {
    timeout: 900_000,
  }, async () => {
    fleet = await startFleetFixture(fleetDocument({ redis: { url: 'redis://10.0.0.3:6379' } }));
    await addFirstImages(fleet);
    const flags = ['--images-dir', fleet.imagesDir, '--no-wait', '--no-wait-dns'];
    const first = await fleet.run(deploy, flags);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const { endpoint } = fleet;
    const values = new Map<string, string>();
    for (const id of ['wsfleet-token-secret', 'wsfleet-api-key']) {
      const [value, ...more] = valuesOf(endpoint, id);
      expect(more).toEqual([]);
      expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
      values.set(id, value ?? '');
      expect(endpoint.resources.get(`${secretPath(id)}/iam`)?.bindings).toEqual([
        { role: SECRET_ACCESSOR, members: [APP_ACCOUNT] },
      ]);
    }
    expect(values.get('wsfleet-token-secret')).not.toBe(values.get('wsfleet-api-key'));
    // Only each secret's own addVersion carries its value; no template, metadata or output does.
    for (const [id, value] of values) {
      const encoded = Buffer.from(value).toString('base64');
      const carriers = endpoint.requests.filter((r) => {
        const body = JSON.stringify(r.body ?? {});
        return body.includes(value) || body.includes(encoded);
      });
      expect(carriers.map((r) => `${r.method} ${r.path}`)).toEqual([
        `POST /secretmanager/v1/projects/proj-test/secrets/${id}:addVersion`,
      ]);
      expect(first.out).not.toContain(value);
    }
    // The next deploy keeps them: no new version, so the running VMs' tokens stay valid.
    endpoint.clear();
    const second = await fleet.run(deploy, flags);
    expect(second.code).toBe(0);
    expect(endpoint.requests.filter((r) => r.path.includes(':addVersion'))).toEqual([]);
    for (const [id, value] of values) expect(valuesOf(endpoint, id)).toEqual([value]);
  });
});

describe('wsfleet app token --token-secret-from (real gcloud)', () => {
  let endpoint: GcloudEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.stop();
    endpoint = undefined;
  });

  const env = (e: GcloudEndpoint) => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    ...e.env,
    CLOUDSDK_CORE_DISABLE_FILE_LOGGING: '1',
  });
  const wsfleet = (e: GcloudEndpoint, args: string[]) =>
    execa(process.execPath, [BUNDLE, 'app', 'token', ...args], {
      env: env(e),
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });

  it('mints a token the secret in Secret Manager verifies, and names a secret it cannot read', {
    timeout: 300_000,
  }, async () => {
    endpoint = await startGcloudEndpoint();
    const secret = 'k'.repeat(20) + 'z'.repeat(23);
    const created = await execa(
      'gcloud',
      ['secrets', 'create', 'wsfleet-token-secret', '--data-file=-', '--project=proj-test', '--quiet'],
      { env: env(endpoint), extendEnv: false, reject: false, input: secret, timeout: 120_000 },
    );
    expect(created.exitCode).toBe(0);
    const minted = await wsfleet(endpoint, [
      '--token-secret-from',
      'gcp:proj-test/wsfleet-token-secret',
      '--sub',
      'ann',
      '--ttl',
      '600',
    ]);
    expect(minted.stderr).toBe('');
    expect(minted.exitCode).toBe(0);
    const checked = verifyToken(minted.stdout.trim(), secret, Math.floor(Date.now() / 1000));
    expect(checked).toMatchObject({ ok: true, claims: { sub: 'ann' } });

    const missing = await wsfleet(endpoint, ['--token-secret-from', 'gcp:proj-test/nope']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('WSFLEET_SECRET_UNAVAILABLE');
    expect(missing.stderr).toContain('gcp:proj-test/nope@latest');
    expect(missing.stdout).toBe('');

    const both = await wsfleet(endpoint, [
      '--token-secret',
      secret,
      '--token-secret-from',
      'gcp:proj-test/wsfleet-token-secret',
    ]);
    expect(both.exitCode).toBe(78);
    expect(both.stderr).toContain('exactly one of --token-secret and --token-secret-from');
    expect(both.stderr).not.toContain(secret);
  });
});
