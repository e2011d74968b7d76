/**
 * Compute Engine operations that are not done at once, as on Google: the insert answers RUNNING,
 * gcloud polls until DONE, and the deploy's command returns only then, with the resource made.
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
});
