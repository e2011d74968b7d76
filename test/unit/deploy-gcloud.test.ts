/**
 * The gcloud runner and the waits, without a cloud: gcloud's errors read into stable codes (a
 * stand-in script prints what gcloud prints), its output read as JSON, and the bounded wait for
 * healthy VMs and a served certificate.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeployError } from '../../scripts/deploy/errors.ts';
import { validateFleet } from '../../scripts/deploy/fleet-file.ts';
import {
  createGcloud,
  type Gcloud,
  jsonOutput,
  parseGcloudError,
  shellQuote,
} from '../../scripts/deploy/gcloud.ts';
import { fleetNames } from '../../scripts/deploy/names.ts';
import { applySteps, type PlanItem, type Step } from '../../scripts/deploy/steps.ts';
import { backendHealth, waitForCluster } from '../../scripts/deploy/wait.ts';
import { fleetDocument } from '../helpers/gcloud-endpoint-fleet.ts';

describe('gcloud runner', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-gcloud-runner-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A gcloud stand-in that prints `stderr`, `stdout` and exits with `code`. */
  async function fakeGcloud(stdout: string, stderr: string, code: number): Promise<Gcloud> {
    const file = join(dir, `gcloud-${Math.random().toString(36).slice(2)}`);
    await writeFile(
      file,
      `#!/bin/sh\ncat <<'OUT'\n${stdout}\nOUT\ncat >&2 <<'ERR'\n${stderr}\nERR\nexit ${code}\n`,
      { mode: 0o755 },
    );
    return createGcloud({ gcloud: file, project: 'proj-test', env: { PATH: process.env.PATH } });
  }

  it.each([
    [
      "ERROR: (gcloud.compute.firewall-rules.describe) Could not fetch resource:\n - The resource 'projects/p/global/firewalls/x' was not found",
      { notFound: true, denied: false },
    ],
    ['ERROR: (gcloud.storage.buckets.describe) gs://nope not found: 404.', { notFound: true, denied: false }],
    [
      'ERROR: (gcloud.redis.instances.describe) NOT_FOUND: Resource not found',
      { notFound: true, denied: false },
    ],
    [
      "ERROR: (gcloud.compute.firewall-rules.create) Could not fetch resource:\n - Required 'compute.firewalls.create' permission for 'projects/p/global/firewalls/x'",
      { notFound: false, denied: true },
    ],
    [
      'ERROR: (gcloud.compute.networks.describe) You do not currently have an active account selected.',
      { notFound: false, denied: true },
    ],
    ['ERROR: (gcloud.compute.networks.create) Quota exceeded', { notFound: false, denied: false }],
  ])('reads %j', (stderr, expected) => {
    expect(parseGcloudError(`WARNING: something\n${stderr}\n`)).toMatchObject({
      ...expected,
      message: stderr.replace(/^ERROR: /, ''),
    });
  });

  it('answers undefined when a describe finds nothing, and parses JSON otherwise', async () => {
    const missing = await fakeGcloud(
      '',
      "ERROR: (gcloud.x) Could not fetch resource:\n - The resource 'a' was not found",
      1,
    );
    expect(await missing.describe(['compute', 'networks', 'describe', 'n'])).toBeUndefined();
    await expect(missing.run(['compute', 'networks', 'create', 'n'])).rejects.toMatchObject({
      code: 'WSFLEET_GCLOUD_FAILED',
    });
    const found = await fakeGcloud('{"name": "n"}', '', 0);
    expect(await found.describe(['compute', 'networks', 'describe', 'n'])).toEqual({ name: 'n' });
  });

  it('reports a refusal as WSFLEET_GCLOUD_DENIED with the command', async () => {
    const denied = await fakeGcloud(
      '',
      'ERROR: (gcloud.iam.service-accounts.create) PERMISSION_DENIED: no',
      1,
    );
    const err = await denied.run(['iam', 'service-accounts', 'create', 'a b']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect((err as DeployError).code).toBe('WSFLEET_GCLOUD_DENIED');
    expect((err as DeployError).message).toContain(
      '(gcloud.iam.service-accounts.create) PERMISSION_DENIED: no\n  command: ',
    );
    expect((err as DeployError).message).toContain(
      "iam service-accounts create 'a b' --project=proj-test --format=json --quiet",
    );
  });

  it('reports an operation gcloud stopped waiting for as WSFLEET_DEPLOY_PENDING: run again, it continues', async () => {
    // gcloud's waiter gives up after 30 minutes (api_lib/util/waiter.py) with these words; a
    // Memorystore create often takes longer, and goes on.
    const slow = await fakeGcloud(
      '',
      'ERROR: (gcloud.redis.instances.create) Operation projects/p/locations/r/operations/operation-1 has not finished in 1800 seconds. The operations may still be underway remotely and may still succeed; use gcloud list and describe commands or https://console.developers.google.com/ to check resource state.',
      1,
    );
    const err = await slow.run(['redis', 'instances', 'create', 'wsfleet-redis']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect((err as DeployError).code).toBe('WSFLEET_DEPLOY_PENDING');
    expect((err as DeployError).message).toContain('has not finished in 1800 seconds');
    expect((err as DeployError).message).toContain('run the same command again in a few minutes');
  });

  it('reports a missing gcloud as WSFLEET_GCLOUD_UNAVAILABLE', async () => {
    const gcloud = createGcloud({ gcloud: join(dir, 'absent'), project: 'p', env: { PATH: '/nowhere' } });
    await expect(gcloud.run(['version'])).rejects.toMatchObject({ code: 'WSFLEET_GCLOUD_UNAVAILABLE' });
  });

  it.each([
    ['', undefined],
    ['[]', []],
    ['Group is stable\n[]', []],
    ['{"a": 1}', { a: 1 }],
    ['Deleted things.', 'Deleted things.'],
  ])('reads the output %j', (stdout, expected) => {
    expect(jsonOutput(stdout)).toEqual(expected);
  });

  it('quotes a command line as a shell reads it back', () => {
    expect(shellQuote(['gcloud', '--a=b,c', "it's", '<x>', 'x y'])).toBe(
      `gcloud --a=b,c 'it'\\''s' '<x>' 'x y'`,
    );
  });
});

describe('waiting for the cluster', () => {
  const parsed = validateFleet(fleetDocument({ app: { size: 2 } })).config;
  if (parsed === undefined) throw new Error('the test config is invalid');
  const config = parsed;
  const names = fleetNames(config);

  function healthOf(...states: string[]): unknown {
    return [
      {
        backend: 'x/instanceGroups/wsfleet-app',
        status: { healthStatus: states.map((s, i) => ({ instance: `z/instances/vm-${i}`, healthState: s })) },
      },
    ];
  }

  function stub(answers: unknown[]): Gcloud {
    return {
      project: 'proj-test',
      command: (args) => ['gcloud', ...args],
      run: async () => (answers.length > 1 ? answers.shift() : answers[0]),
      describe: async () => undefined,
    };
  }

  it('counts the healthy backends', () => {
    expect(backendHealth(healthOf('HEALTHY', 'UNHEALTHY'))).toEqual({
      healthy: 1,
      total: 2,
      states: ['vm-0: HEALTHY', 'vm-1: UNHEALTHY'],
    });
    expect(backendHealth([{ backend: 'x', status: {} }])).toEqual({ healthy: 0, total: 0, states: [] });
  });

  it('stops at --wait-timeout when the VMs do not become healthy', async () => {
    const lines: string[] = [];
    const started = Date.now();
    const wait = waitForCluster(
      config,
      names,
      stub([healthOf('UNHEALTHY', 'HEALTHY')]),
      { step: (t) => lines.push(t) },
      {
        timeoutMs: 300,
        pollMs: 50,
        address: '127.0.0.1',
        httpsPort: 1,
      },
    );
    await expect(wait).rejects.toMatchObject({ code: 'WSFLEET_DEPLOY_WAIT_TIMEOUT' });
    await expect(wait).rejects.toThrow('1 of 2 app VMs healthy after 0 s (vm-0: UNHEALTHY, vm-1: HEALTHY)');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(lines).toEqual(['load balancer: 1 of 2 app VMs healthy']);
  });

  it('then waits for the certificate, and says why it is not served', async () => {
    const lines: string[] = [];
    const wait = waitForCluster(
      config,
      names,
      stub([healthOf('UNHEALTHY', 'HEALTHY'), healthOf('HEALTHY', 'HEALTHY')]),
      { step: (t) => lines.push(t) },
      // Port 1 on loopback: nothing listens there.
      { timeoutMs: 500, pollMs: 50, address: '127.0.0.1', httpsPort: 1 },
    );
    await expect(wait).rejects.toThrow(
      /not every certificate is served after 1 s \(ws\.example\.com: connect ECONNREFUSED/,
    );
    expect(lines).toEqual([
      'load balancer: 1 of 2 app VMs healthy',
      'load balancer: 2 of 2 app VMs healthy',
      'certificates served: 0 of 1 (the renewer orders them once DNS points at the address)',
    ]);
  });
});

describe('running steps', () => {
  /** A gcloud stand-in over a set of names that exist; records every call. */
  function world(existing: string[], failOn?: string) {
    const calls: string[] = [];
    const present = new Set(existing);
    const gcloud: Gcloud = {
      project: 'p',
      command: (args) => ['gcloud', ...args],
      async run(args) {
        calls.push(args.join(' '));
        if (args[1] === failOn) throw new DeployError('WSFLEET_GCLOUD_FAILED', `${failOn} failed`);
        present.add(args[1] as string);
        return { name: args[1], host: `host-of-${args[1]}` };
      },
      async describe(args) {
        calls.push(args.join(' '));
        return present.has(args[1] as string) ? { name: args[1], host: `host-of-${args[1]}` } : undefined;
      },
    };
    return { gcloud, calls };
  }

  const make = (name: string): Step => ({
    title: name,
    describe: ['describe', name],
    plan: (found) => (found === undefined ? [['create', name]] : []),
  });

  it('creates what is missing, in order, and says what was already there', async () => {
    const { gcloud, calls } = world(['b']);
    const lines: string[] = [];
    const summary = await applySteps([make('a'), make('b'), make('c')], gcloud, {
      step: (t) => lines.push(t),
    });
    expect(summary).toEqual({ changed: 2, unchanged: 1, total: 3 });
    expect(calls.filter((c) => c.startsWith('create'))).toEqual(['create a', 'create c']);
    expect(lines).toEqual([
      '(1/3) a: creating…',
      expect.stringMatching(/^\(1\/3\) a: created in \d+ s$/),
      '(2/3) b: up to date',
      '(3/3) c: creating…',
      expect.stringMatching(/^\(3\/3\) c: created in \d+ s$/),
    ]);
  });

  it('builds a step from what an earlier one learned', async () => {
    const { gcloud, calls } = world([]);
    let host: string | undefined;
    const items: PlanItem[] = [
      { ...make('redis'), learn: (r) => (host = String((r as { host: string }).host)) },
      () => make(`template-for-${host}`),
    ];
    await applySteps(items, gcloud, { step: () => {} });
    expect(calls.filter((c) => c.startsWith('create'))).toEqual([
      'create redis',
      'create template-for-host-of-redis',
    ]);
  });

  it('stops at a failed step, reading at most a few steps ahead', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `r${i}`);
    const { gcloud, calls } = world([], 'r2');
    const run = applySteps(names.map(make), gcloud, { step: () => {} });
    await expect(run).rejects.toThrow('r2 failed');
    expect(calls.filter((c) => c.startsWith('create'))).toEqual(['create r0', 'create r1', 'create r2']);
    const reads = calls
      .filter((c) => c.startsWith('describe'))
      .map((c) => Number(c.slice('describe r'.length)));
    expect(Math.max(...reads)).toBeLessThanOrEqual(2 + 4);
  });
});
