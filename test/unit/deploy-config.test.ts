/**
 * The fleet config and the checks gcloud does not make: defaults, the file `wsfleet init` writes,
 * every problem listed at once, each rejected setting, and the CLI's exit 78 before any gcloud
 * call.
 */
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FleetConfigError } from '../../scripts/deploy/errors.ts';
import { loadFleetConfig, validateFleet } from '../../scripts/deploy/fleet-file.ts';
import { init } from '../../scripts/deploy/init-command.ts';
import { BUNDLE } from '../helpers/app.ts';
import { fleetDocument } from '../helpers/gcloud-endpoint-fleet.ts';

const quiet = { out: () => {}, err: () => {} };

describe('fleet config', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-config-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fills in the defaults of a minimal config', () => {
    const { config, problems } = validateFleet(fleetDocument());
    expect(problems).toEqual([]);
    expect(config).toMatchObject({
      name: 'wsfleet',
      network: { range: '10.20.0.0/24' },
      app: { machineType: 'e2-small', size: 3, rollout: { maxUnavailable: 0, replacement: 'substitute' } },
      renewer: { machineType: 'e2-small' },
      redis: { create: { tier: 'basic', sizeGb: 1, version: 'redis_7_0' } },
      loadBalancer: { sessionAffinity: 'CLIENT_IP', drainingSeconds: 30 },
    });
  });

  it('reads back the file `wsfleet init` writes, comments and all', async () => {
    const file = join(dir, 'init.yaml');
    const args = [
      '--config',
      file,
      '--project',
      'my-fleet-1',
      '--region',
      'us-east1',
      '--domain',
      'live.example.org',
    ];
    expect(await init(args, {}, quiet)).toBe(0);
    const config = await loadFleetConfig(file);
    expect(config).toMatchObject({
      project: 'my-fleet-1',
      region: 'us-east1',
      zones: ['us-east1-a', 'us-east1-b', 'us-east1-c'],
      certificates: [['live.example.org']],
      bucket: 'my-fleet-1-wsfleet-certs',
      acme: { directory: 'staging', email: 'ops@example.com' },
    });
    // A second init does not overwrite it unless told to.
    expect(await init(args, {}, quiet)).toBe(1);
    expect(await init([...args, '--force'], {}, quiet)).toBe(0);
  });

  it('writes JSON for a .json file', async () => {
    const file = join(dir, 'fleet.json');
    expect(await init(['--config', file], {}, quiet)).toBe(0);
    expect((await loadFleetConfig(file)).project).toBe('my-project');
  });

  it('refuses a one-letter name, which would give service account ids shorter than IAM takes (6)', () => {
    expect(validateFleet(fleetDocument({ name: 'a' })).problems).toEqual([
      expect.stringMatching(/^`name`: .*at least 2 characters/),
    ]);
    expect(validateFleet(fleetDocument({ name: 'ab' })).problems).toEqual([]);
  });

  it('lists every problem of the file at once', () => {
    const { problems } = validateFleet({
      ...fleetDocument({ project: 'X', zones: [] }),
      certificates: [['Not A Name']],
      colour: 'blue',
    });
    expect(problems).toEqual([
      expect.stringMatching(/^`project`: must be a project id/),
      expect.stringMatching(/^`zones`: Too small/),
      expect.stringMatching(/^`certificates.0.0`: must be a DNS name/),
      expect.stringMatching(/^the file: Unrecognized key: "colour"/),
    ]);
  });

  it.each([
    [
      'an affinity the passthrough load balancer does not take',
      { loadBalancer: { sessionAffinity: 'GENERATED_COOKIE' } },
      '`loadBalancer.sessionAffinity`: GENERATED_COOKIE is not accepted by an external passthrough network load balancer',
    ],
    [
      'a surge below the number of zones',
      { app: { rollout: { maxSurge: 2 } } },
      '`app.rollout.maxSurge`: 2 is neither 0 nor at least the number of zones (3)',
    ],
    [
      'an unavailable count below the number of zones',
      { app: { rollout: { maxSurge: 3, maxUnavailable: 1 } } },
      '`app.rollout.maxUnavailable`: 1 is neither 0 nor at least the number of zones (3)',
    ],
    [
      'no surge and nothing unavailable',
      { app: { rollout: { maxSurge: 0, maxUnavailable: 0 } } },
      '`app.rollout`: maxSurge and maxUnavailable are both 0',
    ],
    [
      'recreate with a surge',
      { app: { rollout: { replacement: 'recreate', maxSurge: 3, maxUnavailable: 3 } } },
      "`app.rollout`: replacement recreate keeps each VM's name, so it takes no surge (maxSurge 3)",
    ],
    [
      'a health check named bare',
      { app: { healthCheck: 'my-check' } },
      '`app.healthCheck`: "my-check" does not name a region; gcloud resolves a bare name to a global health check',
    ],
    [
      'a health check of another region',
      { app: { healthCheck: 'regions/us-east1/healthChecks/my-check' } },
      "`app.healthCheck`: region us-east1 is not the fleet's region europe-west4",
    ],
    [
      'a zone of another region',
      { zones: ['europe-west4-a', 'us-east1-b'] },
      '`zones`: us-east1-b is not in region europe-west4',
    ],
    [
      'a renewer address outside the subnet',
      { network: { range: '10.20.0.0/24', renewerAddress: '10.21.0.5' } },
      '`network.renewerAddress`: 10.21.0.5 is not a usable address of 10.20.0.0/24',
    ],
    [
      'a Redis the app VMs cannot reach',
      { redis: { url: 'redis://redis.example.com:6379' } },
      'app user-data: `redisUrl` must name Redis by IP address',
    ],
  ])('refuses %s', (_what, overrides, problem) => {
    const { config, problems } = validateFleet(fleetDocument(overrides));
    expect(config).toBeUndefined();
    expect(problems).toEqual([expect.stringContaining(problem)]);
  });

  it('lists every check a config breaks, together', () => {
    const { problems } = validateFleet(
      fleetDocument({
        loadBalancer: { sessionAffinity: 'HTTP_COOKIE' },
        app: { healthCheck: 'bare', rollout: { replacement: 'recreate', maxSurge: 1, maxUnavailable: 3 } },
      }),
    );
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      '`loadBalancer.sessionAffinity`',
      '`app.rollout.maxSurge`',
      '`app.rollout`',
      '`app.healthCheck`',
    ]);
  });

  it('names the file and says how to write one when it is missing', async () => {
    const missing = join(dir, 'nope.yaml');
    await expect(loadFleetConfig(missing)).rejects.toThrow(FleetConfigError);
    await expect(loadFleetConfig(missing)).rejects.toThrow(
      `${missing}: no such file (write one with \`wsfleet init\``,
    );
  });

  it('reports YAML it cannot parse', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'project: [unclosed\n');
    await expect(loadFleetConfig(file)).rejects.toThrow(/broken\.yaml: not valid YAML/);
  });

  describe('the CLI', () => {
    it.each(['deploy', 'rollout', 'status', 'teardown'])(
      '`wsfleet %s` exits 78 listing every problem, and runs no gcloud',
      async (command) => {
        const file = join(dir, `${command}.yaml`);
        await writeFile(
          file,
          stringify(
            fleetDocument({
              loadBalancer: { sessionAffinity: 'GENERATED_COOKIE' },
              app: { rollout: { maxSurge: 1 } },
            }),
          ),
        );
        const marker = join(dir, `${command}.gcloud-ran`);
        const gcloud = join(dir, 'gcloud-marker.sh');
        await writeFile(gcloud, '#!/bin/sh\ntouch "$MARKER"\nexit 1\n', { mode: 0o755 });
        const args = [
          BUNDLE,
          command,
          '--config',
          file,
          '--gcloud',
          gcloud,
          ...(command === 'teardown' ? ['--yes'] : []),
        ];
        const result = await execa(process.execPath, args, {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MARKER: marker },
          extendEnv: false,
          reject: false,
          stdin: 'ignore',
          timeout: 20_000,
        });
        expect(result.exitCode).toBe(78);
        expect(result.stderr).toContain(`wsfleet ${command}: Invalid configuration:`);
        expect(result.stderr).toContain('GENERATED_COOKIE is not accepted');
        expect(result.stderr).toContain('`app.rollout.maxSurge`: 1 is neither 0');
        await expect(access(marker)).rejects.toThrow();
      },
    );
  });
});
