import { describe, expect, it } from 'vitest';
import { helpText } from '../../daemons/shared/config.ts';
import { ConfigError } from '../../daemons/shared/errors.ts';
import { buildOptions, parseBuildArgs, varsRecord } from '../../images/build/config.ts';

function problems(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    parseBuildArgs(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('wsfleet images build configuration', () => {
  it('reads the role, then flags and WSFLEET_* variables, the flag winning', () => {
    const { role, config } = parseBuildArgs(
      ['app', '--zone', 'europe-west4-b', '--var', 'machine_type=e2-small'],
      {
        WSFLEET_PROJECT: 'my-project-1',
        WSFLEET_ZONE: 'us-east1-c',
        WSFLEET_VAR: 'disk_size=20 network=wsfleet',
      },
    );
    expect(role).toBe('app');
    expect(config).toMatchObject({
      target: 'gce',
      project: 'my-project-1',
      zone: 'europe-west4-b',
      var: ['machine_type=e2-small'],
      buildTimeout: 3600,
      packer: 'packer',
      verbose: false,
    });
  });

  it('takes several --var, and variables from the environment when no flag is given', () => {
    const { config } = parseBuildArgs(['renewer', '--target', 'dry-run'], {
      WSFLEET_VAR: 'disk_size=20 network=wsfleet',
    });
    expect(varsRecord(config.var)).toEqual({ disk_size: '20', network: 'wsfleet' });
  });

  it('needs no project for a dry run', () => {
    expect(problems(['renewer', '--target', 'dry-run'])).toEqual([]);
  });

  it('reports every problem at once', () => {
    expect(
      problems([
        '--zone',
        'mars',
        '--var',
        'content_hash=abc',
        '--var',
        'no-equals',
        '--build-timeout',
        '5',
        '--bogus',
      ]),
    ).toEqual([
      'Missing the role: expected app or renewer (wsfleet images build <role>)',
      'Unknown flag `--bogus`',
      'Expected `--zone` (WSFLEET_ZONE) to be a zone such as us-central1-a, got "mars"',
      'Expected `--var` (WSFLEET_VAR) to be KEY=VALUE pairs naming variables the wrapper does not set, got ["content_hash=abc","no-equals"] (content_hash is set by the wrapper (the inputs); "no-equals" is not KEY=VALUE)',
      'Expected `--build-timeout` (WSFLEET_BUILD_TIMEOUT) to be an integer from 10 to 86400, got "5"',
    ]);
  });

  it('reports a missing project with the other problems', () => {
    expect(problems(['app', '--zone', 'mars'])).toEqual([
      'Expected `--zone` (WSFLEET_ZONE) to be a zone such as us-central1-a, got "mars"',
      'Missing `--project` (WSFLEET_PROJECT): --target gce builds in a Google Cloud project',
    ]);
  });

  it.each([
    [['web'], 'Expected the role to be app or renewer, got "web"'],
    [['app'], 'Missing `--project` (WSFLEET_PROJECT): --target gce builds in a Google Cloud project'],
    [['app', '--project', 'Bad_Project'], 'Expected `--project` (WSFLEET_PROJECT) to be a project id'],
    [['app', '--project', 'p-123456', '--var', 'zone=x'], 'zone is set by --zone'],
    [['app', '--project', 'p-123456', '--image-family', 'Wsfleet'], 'Expected `--image-family`'],
    [
      ['app', '--target', 'qemu'],
      'Expected `--target` (WSFLEET_TARGET) to be gce, dry-run or local, got "qemu"',
    ],
  ])('refuses %j', (argv, problem) => {
    expect(problems(argv).join('\n')).toContain(problem);
  });

  it('needs no project for a local build', () => {
    expect(problems(['app', '--target', 'local'])).toEqual([]);
    expect(parseBuildArgs(['app', '--target', 'local'], {}).config.target).toBe('local');
  });

  it('lists every flag with its variable and default in --help', () => {
    const help = helpText('wsfleet images build <app|renewer> [flags]', 'x', buildOptions);
    expect(help).toMatch(/--target <value>\s+WSFLEET_TARGET\s+.*\(default: gce\)/);
    expect(help).toMatch(/--var <value>…\s+WSFLEET_VAR\s+/);
    expect(help).toMatch(/--zone <value>\s+WSFLEET_ZONE\s+.*\(default: us-central1-a\)/);
    for (const flag of [
      '--project',
      '--image-family',
      '--output-dir',
      '--cache-dir',
      '--bundle',
      '--packer',
    ]) {
      expect(help).toContain(flag);
    }
  });
});
