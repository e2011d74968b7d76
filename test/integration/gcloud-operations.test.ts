/**
 * Long-running operations that are not done at once, as on Google: a Compute Engine insert
 * answers RUNNING, a Memorystore create and a Service Usage enable answer an operation without
 * `done`; gcloud polls until done, and the deploy's command returns only then, with the resource
 * made (the instance READY, the APIs enabled).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createGcloud } from '../../scripts/deploy/gcloud.ts';
import { type GcloudEndpoint, startGcloudEndpoint } from '../helpers/gcloud-endpoint.ts';
import { PROJECT } from '../helpers/gcloud-endpoint-fleet.ts';

describe('long-running operations (real gcloud)', () => {
  let endpoint: GcloudEndpoint | undefined;

  afterEach(async () => {
    await endpoint?.stop();
    endpoint = undefined;
  });

  it('waits while an operation is RUNNING and returns once it is DONE', { timeout: 180_000 }, async () => {
    endpoint = await startGcloudEndpoint({ operationPolls: 3 });
    const gcloud = createGcloud({
      gcloud: 'gcloud',
      project: PROJECT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...endpoint.env },
    });
    await gcloud.run(['compute', 'networks', 'create', 'wsfleet', '--subnet-mode=custom']);
    const polls = endpoint.requests.filter((r) => r.path.includes('/operations/'));
    // Three answers of RUNNING, then the one that said DONE: gcloud asked until it was done.
    expect(polls.length).toBeGreaterThanOrEqual(4);
    const op = [...endpoint.resources.entries()].find(([path]) => path.includes('/operations/'))?.[1];
    expect(op?._polls).toBe(0);
    expect(await gcloud.describe(['compute', 'networks', 'describe', 'wsfleet'])).toMatchObject({
      name: 'wsfleet',
    });
  });

  it('waits out a Memorystore create and a Service Usage enable that are not done at once', {
    timeout: 300_000,
  }, async () => {
    endpoint = await startGcloudEndpoint({ operationPolls: 2, apisDisabled: true });
    const gcloud = createGcloud({
      gcloud: 'gcloud',
      project: PROJECT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...endpoint.env },
    });
    await gcloud.run(['services', 'enable', 'redis.googleapis.com']);
    const enablePolls = endpoint.requests.filter((r) => r.path.startsWith('/serviceusage/v1/operations/'));
    // Not done for two polls: gcloud asked until it was, and only then were the APIs on.
    expect(enablePolls.length).toBeGreaterThanOrEqual(2);
    endpoint.clear();
    const created = await gcloud.run([
      'redis',
      'instances',
      'create',
      'wsfleet-redis',
      '--region=europe-west4',
      '--tier=basic',
      '--size=1',
      '--transit-encryption-mode=server-authentication',
      '--enable-auth',
    ]);
    const polls = endpoint.requests.filter((r) => r.path.includes('/operations/'));
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.every((r) => r.method === 'GET')).toBe(true);
    expect(created).toMatchObject({
      name: expect.stringContaining('/instances/wsfleet-redis'),
      state: 'READY',
    });
    expect(
      await gcloud.describe(['redis', 'instances', 'describe', 'wsfleet-redis', '--region=europe-west4']),
    ).toMatchObject({ state: 'READY', host: '10.30.0.3', port: 6378 });
  });
});
