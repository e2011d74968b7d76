import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../daemons/shared/config.ts';
import { upOptions } from '../../scripts/lab/config.ts';
import { labPlan } from '../../scripts/lab/plan.ts';
import { createLabSecrets, labSecretsOf, readLabTokenSecret } from '../../scripts/lab/secrets.ts';
import { serviceCommands } from '../../scripts/lab/services.ts';
import { readState, requireState, STATE_FORMAT, writeState } from '../../scripts/lab/state.ts';

describe('labPlan', () => {
  const plan = labPlan('lab', '10.213.0');

  it('derives every name from the lab name alone, so `down` finds them without a state', () => {
    expect(plan.netns).toBe('wsfleet-lab');
    expect(plan.machineNetns('app-3')).toBe('wsfleet-lab-app-3');
    expect(plan.machineName('renewer')).toBe('wsfleet-lab-renewer');
    expect(labPlan('other', '10.213.0').machineNetns('app-3')).toBe('wsfleet-other-app-3');
  });

  it.each([
    ['services', plan.services, '10.213.0.1'],
    ['load balancer', plan.vip, '10.213.0.2'],
    ['renewer', plan.renewerAddress, '10.213.0.10'],
    ['app-1', plan.appAddress(1), '10.213.0.11'],
    ['app-89', plan.appAddress(89), '10.213.0.99'],
    ['client 0', plan.clientAddress(0), '10.213.0.100'],
    ['client 31', plan.clientAddress(31), '10.213.0.131'],
  ])('puts the %s at %s', (_what, address, expected) => {
    expect(address).toBe(expected);
  });

  it('refuses addresses outside their ranges', () => {
    expect(() => plan.appAddress(0)).toThrow(RangeError);
    expect(() => plan.appAddress(90)).toThrow(RangeError);
    expect(() => plan.clientAddress(32)).toThrow(RangeError);
  });

  it('keeps interface names within the kernel limit of 15 characters', () => {
    for (const name of ['renewer', 'app-1', 'app-89'])
      expect(plan.hostVeth(name).length).toBeLessThanOrEqual(15);
  });
});

describe('lab up configuration', () => {
  it('has the documented defaults', () => {
    expect(parseConfig(upOptions, [], {}).config).toMatchObject({
      lab: 'lab',
      domain: 'ws.lab.test',
      apps: 2,
      subnet: '10.213.0',
      pollInterval: 5,
      timeout: 300,
      stateDir: '/run/wsfleet-lab',
    });
  });

  it('reports every problem at once', () => {
    expect(() =>
      parseConfig(upOptions, ['--lab', 'Lab_1', '--apps', '9', '--subnet', '192.168.1'], {
        WSFLEET_DOMAIN: 'not a name',
        WSFLEET_STATE_DIR: 'relative',
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'WSFLEET_CONFIG_INVALID',
        problems: [
          expect.stringContaining('`--lab`'),
          expect.stringContaining('`WSFLEET_DOMAIN`'),
          expect.stringContaining('`--apps`'),
          expect.stringContaining('`--subnet`'),
          expect.stringContaining('`WSFLEET_STATE_DIR`'),
        ],
      }),
    );
  });
});

describe('lab state', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-lab-state-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads back what was written, and nothing for a lab that is not up', async () => {
    const state = {
      format: STATE_FORMAT,
      lab: 'one',
      subnet: '10.213.0',
      domain: 'ws.lab.test',
      createdAt: new Date(0).toISOString(),
      services: { redis: { pid: 7, argv: ['redis-server'], log: '/x.log' } },
      machines: [],
      images: {},
      nextApp: 3,
    } as const;
    await writeState(dir, state);
    expect(await readState(dir, 'one')).toEqual(state);
    expect(await readState(dir, 'two')).toBeUndefined();
    await expect(requireState(dir, 'two')).rejects.toMatchObject({ code: 'WSFLEET_LAB_STATE' });
  });

  it('refuses a state file that is not JSON or of another format', async () => {
    await writeState(dir, { format: STATE_FORMAT, lab: 'three' } as never);
    for (const text of ['{"format":"other/1"}', '{"format":', 'null']) {
      await writeFile(join(dir, 'three', 'state.json'), text);
      await expect(readState(dir, 'three')).rejects.toMatchObject({ code: 'WSFLEET_LAB_STATE' });
    }
  });
});

describe("the lab's Redis", () => {
  const ports = { redis: 6379, dns: 8053, dnsManagement: 8055, gcs: 4443, google: 8089 };
  const argvOf = (persistence?: 'none' | 'rdb'): string[] => [
    ...serviceCommands(labPlan('t', '10.213.0'), '/lab', '/wsfleet.js', ports, persistence).redis.argv,
  ];
  const setting = (argv: string[], name: string): string | undefined => argv[argv.indexOf(name) + 1];

  it('keeps nothing across a restart by default, as the default Memorystore tier', () => {
    const argv = argvOf();
    expect(setting(argv, '--appendonly')).toBe('no');
    expect(setting(argv, '--save')).toBe('');
  });

  it('takes RDB snapshots and no AOF with rdb, as Memorystore persistence does', () => {
    const argv = argvOf('rdb');
    expect(setting(argv, '--appendonly')).toBe('no');
    expect(setting(argv, '--save')).toBe('3600 1');
  });

  it('is chosen with --redis-persistence, none unless asked', () => {
    expect(parseConfig(upOptions, [], {}).config.redisPersistence).toBe('none');
    expect(parseConfig(upOptions, ['--redis-persistence', 'rdb'], {}).config.redisPersistence).toBe('rdb');
  });
});

describe("the lab's secrets", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-lab-secrets-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are made per lab, root-only, where the Secret Manager stand-in serves them by the names the user-data gives', async () => {
    const secrets = labSecretsOf(dir, 'one');
    await createLabSecrets(secrets);
    const token = await readFile(secrets.tokenSecretFile, 'utf8');
    const key = await readFile(secrets.apiKeyFile, 'utf8');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(token).not.toBe(key);
    for (const file of [secrets.tokenSecretFile, secrets.apiKeyFile])
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    // gcp:PROJECT/SECRET read from <secrets-dir>/PROJECT/SECRET.
    expect(secrets.tokenSecretFrom).toBe('gcp:wsfleet-one/wsfleet-token-secret');
    expect(secrets.tokenSecretFile).toBe(join(secrets.dir, 'wsfleet-one', 'wsfleet-token-secret'));
    expect(secrets.apiKeyFrom).toBe('gcp:wsfleet-one/wsfleet-api-key');
    const other = labSecretsOf(dir, 'two');
    await createLabSecrets(other);
    expect(await readLabTokenSecret(other)).not.toBe(token);
  });

  it('are served to the app VMs by the stand-in the lab starts on its bridge', () => {
    const command = serviceCommands(labPlan('t', '10.213.0'), '/lab', '/wsfleet.js', {
      redis: 6379,
      dns: 8053,
      dnsManagement: 8055,
      gcs: 4443,
      google: 8089,
    }).google;
    expect(command.argv.slice(2)).toEqual([
      'lab',
      'google-double',
      '--host',
      '10.213.0.1',
      '--port',
      '8089',
      '--secrets-dir',
      '/lab/secrets',
    ]);
  });

  it('make Redis ask for AUTH from a root-only config file, the string getAuthString answers', async () => {
    const secrets = labSecretsOf(dir, 'three');
    await createLabSecrets(secrets);
    const auth = await readFile(secrets.redisAuthFile, 'utf8');
    expect(auth).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await readFile(secrets.redisConfFile, 'utf8')).toBe(`requirepass ${auth}\n`);
    expect((await stat(secrets.redisConfFile)).mode & 0o777).toBe(0o600);
    const commands = serviceCommands(
      labPlan('t', '10.213.0'),
      '/lab',
      '/wsfleet.js',
      { redis: 6379, dns: 8053, dnsManagement: 8055, gcs: 4443, google: 8089 },
      'none',
      secrets,
    );
    expect(commands.redis.argv.slice(0, 2)).toEqual(['redis-server', secrets.redisConfFile]);
    expect(commands.redis.argv.join(' ')).not.toContain(auth);
    expect(commands.google.argv.slice(-2)).toEqual(['--redis-auth-file', secrets.redisAuthFile]);
  });
});
