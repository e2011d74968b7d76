/**
 * The image wrapper against the real packer (Debian 12's 1.6.6, or whatever is on PATH): both
 * templates validate and are formatted, the null source builds through `wsfleet images build`
 * (the real entry point) with a manifest and progress lines, and the ways a build can fail are
 * reported as failures: `-only` matching nothing, a provisioning error, packer missing.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build/build-image.ts';
import { ImageError } from '../../images/build/errors.ts';
import { createMachineReader } from '../../images/build/machine-readable.ts';
import type { ImageManifest } from '../../images/build/manifest.ts';
import { validateTemplates } from '../../images/build/validate-templates.ts';
import { BUNDLE } from '../helpers/app.ts';
import { dryRunRequest, PATHS, runScenario } from '../helpers/packer-record.ts';
import { onlyMatchedNothing, RECORDED_WITH } from '../helpers/packer-recordings.ts';
import { waitFor } from '../helpers/wait.ts';

// A first build may fetch the 51 MB Node runtime with npm pack; later ones use the cache.
const BUILD_MS = 180_000;

/** Runs the CLI bundle with a small environment; bounded. */
function cli(args: string[], env: Record<string, string> = {}, timeoutMs = BUILD_MS) {
  return execa(process.execPath, [BUNDLE, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: timeoutMs,
  });
}

async function tool(name: string): Promise<boolean> {
  const found = await execa('sh', ['-c', 'command -v "$0"', name], { reject: false, timeout: 5_000 });
  return found.exitCode === 0;
}

describe('wsfleet images (real packer)', () => {
  let dir: string;

  beforeAll(async () => {
    if (!(await tool('packer'))) {
      throw new Error(
        'packer is not installed: the image tests run the real packer (apt-get install packer)',
      );
    }
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-images-'));
  });

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  describe('validate', () => {
    it('finds both templates formatted and valid', async () => {
      const result = await cli(['images', 'validate'], {}, 60_000);
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/^packer \d+\.\d+\.\d+$/m);
      expect(result.stdout).toContain(`ok    packer fmt -check ${PATHS.packer}`);
      expect(result.stdout).toMatch(
        /^ok {4}packer validate app \(variables\.pkr\.hcl, sources\.pkr\.hcl, app\.pkr\.hcl/m,
      );
      expect(result.stdout).toMatch(/^ok {4}packer validate renewer \(.*renewer\.pkr\.hcl/m);
    }, 60_000);

    it('reports an unformatted file and an invalid template together', async () => {
      const copy = join(dir, 'packer-broken');
      await cp(PATHS.packer, copy, { recursive: true });
      const sources = await readFile(join(copy, 'sources.pkr.hcl'), 'utf8');
      await writeFile(join(copy, 'sources.pkr.hcl'), sources.replace('  ssh_username', 'ssh_username'));
      const renewer = await readFile(join(copy, 'renewer.pkr.hcl'), 'utf8');
      await writeFile(
        join(copy, 'renewer.pkr.hcl'),
        renewer.replace('var.image_family', 'var.no_such_variable'),
      );
      let out = '';
      const error = await validateTemplates('packer', {
        paths: { ...PATHS, packer: copy },
        write: (t) => {
          out += t;
        },
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageError);
      expect((error as ImageError).code).toBe('WSFLEET_IMAGE_INVALID');
      const message = (error as ImageError).message;
      expect(message).toContain(`packer fmt -check ${copy}: not formatted`);
      expect(message).toContain('sources.pkr.hcl');
      expect(message).toMatch(/renewer: packer validate .*\n[\s\S]*no_such_variable/);
      expect(out).toMatch(/^FAIL {2}packer fmt -check/m);
      expect(out).toMatch(/^ok {4}packer validate app/m);
      expect(out).toMatch(/^FAIL {2}packer validate renewer/m);
    }, 60_000);
  });

  describe('build --target dry-run (the null source)', () => {
    it(
      'builds through the CLI: progress lines, the artifact, a manifest and the full log',
      async () => {
        const out = join(dir, 'out');
        const result = await cli(['images', 'build', 'app', '--target', 'dry-run', '--output-dir', out]);
        expect(result.stderr).toBe('');
        expect(result.exitCode).toBe(0);
        const lines = result.stdout.split('\n');
        expect(lines[0]).toMatch(/^\[ 0:0\d\] packer \d+\.\d+\.\d+/);
        expect(lines).toContain(
          lines.find((l) => /^\[[ 0-9:]+\] checking the inputs of the app image/.test(l)),
        );
        for (const step of [
          'checking Node 22.',
          'installing the nginx configuration',
          'installing from images/systemd: wsfleet-app.service',
        ]) {
          expect(result.stdout).toContain(step);
        }
        expect(result.stdout).toMatch(/\] artifact of app\.null\.app: Null$/m);
        expect(result.stdout).not.toContain('would run:'); // only with --verbose

        const name =
          /^Dry run passed for (wsfleet-app-[0-9a-z-]+-([0-9a-f]{12})) \(app, family wsfleet-app\)/m.exec(
            result.stdout,
          );
        expect(name).not.toBeNull();
        const manifestPath = join(out, 'dry-run', `${name?.[1]}.json`);
        expect(result.stdout).toContain(`Manifest: ${manifestPath}`);
        const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ImageManifest;
        expect(manifest).toMatchObject({
          format: 'wsfleet.image-manifest/1',
          role: 'app',
          target: 'dry-run',
          image: name?.[1],
          imageFamily: 'wsfleet-app',
          artifactId: 'Null',
          project: null,
          contentHash: name?.[2],
          nodeVersion: expect.stringMatching(/^22\./),
          packerVersion: expect.stringMatching(/^\d+\.\d+\.\d+$/),
        });
        expect(manifest.templateHash).toMatch(/^[0-9a-f]{64}$/);
        expect(manifest.gitRevision === null || /^[0-9a-f]{40}(-dirty)?$/.test(manifest.gitRevision)).toBe(
          true,
        );
        expect(Date.parse(manifest.builtAt)).not.toBeNaN();

        // The full machine-readable log beside it holds the same artifact.
        const reader = createMachineReader();
        const log = await readFile(join(out, 'dry-run', `${name?.[1]}.packer.log`), 'utf8');
        for (const line of log.split('\n')) reader.push(line);
        expect(reader.outcome().artifacts.map((a) => [a.build, a.id])).toEqual([['app.null.app', 'Null']]);
      },
      BUILD_MS,
    );

    it(
      'names the same inputs the same way, and other inputs differently',
      async () => {
        const inputs = (output: string) => /inputs ([0-9a-f]{12}) staged/.exec(output)?.[1];
        const first = await runScenario('null-build', join(dir, 'a'));
        const second = await runScenario('null-build', join(dir, 'b'));
        const other = await runScenario('failing-build', join(dir, 'c'));
        expect(first.error).toBeUndefined();
        expect(inputs(first.output)).toMatch(/^[0-9a-f]{12}$/);
        expect(inputs(second.output)).toBe(inputs(first.output));
        expect(inputs(other.output)).toMatch(/^[0-9a-f]{12}$/);
        expect(inputs(other.output)).not.toBe(inputs(first.output));
      },
      BUILD_MS,
    );

    it(
      'fails loudly when -only matches no build, though packer exits 0',
      async () => {
        const run = await runScenario('only-matched-nothing', join(dir, 'only'));
        expect(run.error?.code).toBe('WSFLEET_IMAGE_NO_ARTIFACT');
        expect(run.error?.message).toContain(
          'packer build exited 0 but renewer.null.nothing produced no artifact: -only matched no build of the template',
        );
        expect(run.manifestPath).toBeUndefined();
        // What packer printed means what the recording means: no artifact, no error.
        const reader = createMachineReader();
        for (const line of run.lines) reader.push(line);
        expect(reader.outcome()).toEqual({ artifacts: [], buildErrors: [], uiErrors: [] });
        // Line for line only with the packer the recording was made with: another release may
        // word its closing lines differently, and the outcome above is what the product reads.
        const version = (await execa('packer', ['version'])).stdout.split('\n')[0]?.trim();
        if (version === RECORDED_WITH) {
          expect(run.lines.map((l) => l.replace(/^\d+,/, '').replace(/after [^,]*$/, ''))).toEqual(
            onlyMatchedNothing.map((l) => l.replace(/^\d+,/, '').replace(/after [^,]*$/, '')),
          );
        } else {
          process.stdout.write(`packer is ${version}, the recording ${RECORDED_WITH}: lines not compared\n`);
        }
      },
      BUILD_MS,
    );

    it(
      'fails with the provisioning error and exit 1 when install.sh fails',
      async () => {
        const broken = join(dir, 'broken.js');
        await writeFile(broken, "throw new Error('this bundle is broken');\n");
        const out = join(dir, 'out-broken');
        const result = await cli([
          'images',
          'build',
          'renewer',
          '--target',
          'dry-run',
          '--output-dir',
          out,
          '--bundle',
          broken,
        ]);
        expect(result.exitCode).toBe(1);
        expect(result.stdout).toMatch(/\] ERROR error: the bundle .* does not start on Node 22\.\d+\.\d+$/m);
        expect(result.stderr).toMatch(
          /^wsfleet images build: WSFLEET_IMAGE_BUILD_FAILED: packer build renewer\.null\.renewer failed \(exit 1\):\n {2}renewer\.null\.renewer: Script exited with non-zero exit status: 1/,
        );
        expect(result.stderr).toMatch(/^ {4}error: the bundle .* does not start on Node 22/m);
        const log = /^Full log: (.+\.packer\.log)$/m.exec(result.stderr)?.[1];
        expect(log).toBeDefined();
        expect((await stat(log ?? '')).size).toBeGreaterThan(0);
      },
      BUILD_MS,
    );

    it(
      'stops packer on SIGTERM and reports the build as interrupted',
      async () => {
        const build = execa(
          process.execPath,
          [BUNDLE, 'images', 'build', 'app', '--target', 'dry-run', '--output-dir', join(dir, 'out-stop')],
          {
            env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
            extendEnv: false,
            reject: false,
            stdin: 'ignore',
            timeout: BUILD_MS,
          },
        );
        let stdout = '';
        build.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        await waitFor(() => stdout.includes('checking the inputs'), 60_000, 'the provisioning to start');
        build.kill('SIGTERM');
        const result = await build;
        expect(result.exitCode).toBe(1);
        expect(result.stderr).toContain('stopping packer');
        expect(result.stderr).toMatch(
          /WSFLEET_IMAGE_BUILD_FAILED: packer build app\.null\.app was interrupted/,
        );
      },
      BUILD_MS,
    );
  });

  it(
    'stops a build that overruns its timeout and says so',
    async () => {
      const error = await buildImage(dryRunRequest(join(dir, 'slow'), 'renewer', { buildTimeoutMs: 300 }), {
        paths: PATHS,
        write: () => {},
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageError);
      expect((error as ImageError).code).toBe('WSFLEET_IMAGE_BUILD_FAILED');
      expect((error as ImageError).message).toMatch(
        /^packer build renewer\.null\.renewer ran past 300 ms and was stopped:/,
      );
    },
    BUILD_MS,
  );

  describe('without packer', () => {
    it.each([
      'images validate',
      'images build app --project my-project-1',
      'images build renewer --target dry-run',
    ])('`wsfleet %s` says packer is missing and exits 1', async (command) => {
      const args = command.split(' ');
      const empty = join(dir, 'empty-bin');
      await mkdir(empty, { recursive: true });
      const result = await cli(args, { PATH: empty }, 30_000);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toBe(
        `wsfleet ${args.slice(0, 2).join(' ')}: WSFLEET_PACKER_UNAVAILABLE: \`packer\` was not found (PATH=${empty}). Install packer (Debian 12: apt-get install packer) or name it with --packer.`,
      );
    });
  });

  it('lists every configuration problem at once and exits 78', async () => {
    const result = await cli(
      ['images', 'build', 'web', '--target', 'gce', '--zone', 'x', '--var', 'staging_dir=/'],
      {},
      30_000,
    );
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toContain('Expected the role to be app or renewer, got "web"');
    expect(result.stderr).toContain(
      'Expected `--zone` (WSFLEET_ZONE) to be a zone such as us-central1-a, got "x"',
    );
    expect(result.stderr).toContain('staging_dir is set by the wrapper (the staged inputs)');
    expect(result.stderr).toContain(
      'Missing `--project` (WSFLEET_PROJECT): --target gce builds in a Google Cloud project',
    );
  });
});

describe('wsfleet images build --target local', () => {
  it('builds the renewer root filesystem once, then finds it up to date', async () => {
    // A first build on a fresh machine runs mmdebstrap (about 40 s); later ones copy the cached base.
    const first = await cli(['images', 'build', 'renewer', '--target', 'local'], {}, 600_000);
    expect(first.exitCode, first.stdout + first.stderr).toBe(0);
    const manifestPath = /Manifest: (\S+)/.exec(first.stdout)?.[1] ?? '';
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ImageManifest & { rootfs: string };
    expect(manifest).toMatchObject({ role: 'renewer', target: 'local' });
    expect(manifest.image).toMatch(/^wsfleet-renewer-\d+-\d+-\d+-[0-9a-f]{12}$/);
    // Provisioned by install.sh: the pinned Node, the wrapper, the units, no unit enabled.
    expect((await stat(join(manifest.rootfs, 'opt/wsfleet/node/bin/node'))).mode & 0o777).toBe(0o755);
    expect(
      await readFile(join(manifest.rootfs, 'etc/systemd/system/wsfleet-renewer.socket'), 'utf8'),
    ).toContain('ListenStream=');
    await expect(
      stat(join(manifest.rootfs, 'etc/systemd/system/sockets.target.wants/wsfleet-renewer.socket')),
    ).rejects.toThrow();
    // Sealed by finalize.sh: no machine-id of its own, cloud-init reset.
    const machineId = await readFile(join(manifest.rootfs, 'etc/machine-id'), 'utf8').catch(() => '');
    expect(['', 'uninitialized']).toContain(machineId.trim());
    expect(await readdir(join(manifest.rootfs, 'var/lib/cloud')).catch(() => [])).not.toContain('instance');

    const again = await cli(['images', 'build', 'renewer', '--target', 'local'], {}, 120_000);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain(`Up to date: ${manifest.image} (renewer, local) at ${manifest.rootfs}`);
    expect(again.stdout).not.toContain('copying the base');
  }, 660_000);
});

describe('provisioning scripts', () => {
  const scripts = ['install.sh', 'finalize.sh', 'lib.sh', 'roles.sh', 'files/wsfleet'].map((f) =>
    join(PATHS.provision, f),
  );

  it('are shellcheck-clean', async () => {
    if (!(await tool('shellcheck'))) {
      console.warn('shellcheck is not installed: skipped (apt-get install shellcheck)');
      return;
    }
    const result = await execa('shellcheck', ['-x', ...scripts], {
      cwd: PATHS.provision,
      reject: false,
      timeout: 30_000,
    });
    expect(result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it.each([
    ['app', ['cloud-init', 'cloud-guest-utils', 'ca-certificates', 'nginx', 'polkitd']],
    ['renewer', ['cloud-init', 'cloud-guest-utils', 'ca-certificates']],
  ])('list the Debian packages of the %s image for mmdebstrap', async (role, packages) => {
    const result = await execa(
      'bash',
      [join(PATHS.provision, 'install.sh'), '--role', role, '--print-packages'],
      {
        timeout: 10_000,
      },
    );
    expect(result.stdout.split('\n')).toEqual(packages);
  });

  it('refuses an unknown role', async () => {
    const result = await execa(
      'bash',
      [join(PATHS.provision, 'install.sh'), '--role', 'web', '--print-packages'],
      {
        reject: false,
        timeout: 10_000,
      },
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe("error: --role must be app or renewer, got 'web'");
  });

  it('install a cloud-init configuration that cloud-init accepts', async () => {
    const cfg = join(PATHS.provision, 'files', 'cloud.cfg.d', '99_wsfleet.cfg');
    expect(await readFile(cfg, 'utf8')).toMatch(/^datasource_list: \[ GCE, NoCloud, None \]$/m);
    if (!(await tool('cloud-init'))) {
      console.warn('cloud-init is not installed: schema check skipped');
      return;
    }
    const result = await execa('cloud-init', ['schema', '--config-file', cfg], {
      reject: false,
      timeout: 30_000,
    });
    expect(result.stdout).toContain('Valid cloud-config');
  });
});
