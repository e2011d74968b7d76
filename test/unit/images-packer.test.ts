import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePin } from '../../images/build/node-runtime.ts';
import { varArgs } from '../../images/build/packer-check.ts';
import { needsPlugins, parsePackerVersion } from '../../images/build/packer-version.ts';
import { imagePaths } from '../../images/build/paths.ts';
import { buildName, templateFiles } from '../../images/build/templates.ts';
import { CHECKOUT } from '../helpers/packer-record.ts';
import { RECORDED_WITH } from '../helpers/packer-recordings.ts';

describe('packer versions and templates', () => {
  describe('parsePackerVersion', () => {
    it.each([
      ['Packer v1.6.6\n', { major: 1, minor: 6, patch: 6 }],
      [
        'Packer v1.11.2\n\nYour version of Packer is out of date! The latest version\nis 1.12.0.',
        { major: 1, minor: 11, patch: 2 },
      ],
      ['Packer v1.7.0-dev (abc)\n', { major: 1, minor: 7, patch: 0 }],
      ['1795264645,,version,1.6.6\n1795264645,,version-prelease,\n', { major: 1, minor: 6, patch: 6 }],
      [RECORDED_WITH, { major: 1, minor: 6, patch: 6 }],
    ])('reads %j', (output, version) => {
      expect(parsePackerVersion(output)).toEqual(version);
    });

    it.each([[''], ['packer: command not found'], ['Terraform v1.6.6']])(
      'finds no version in %j',
      (output) => {
        expect(parsePackerVersion(output)).toBeUndefined();
      },
    );
  });

  it.each([
    [{ major: 1, minor: 6, patch: 6 }, false],
    [{ major: 1, minor: 7, patch: 0 }, true],
    [{ major: 1, minor: 11, patch: 2 }, true],
    [{ major: 2, minor: 0, patch: 0 }, true],
  ])('gives packer %j the plugins block and packer init: %s', (version, plugins) => {
    expect(needsPlugins(version)).toBe(plugins);
    expect(templateFiles('app', plugins).includes('plugins.pkr.hcl')).toBe(plugins);
  });

  it('assembles each role from the shared files and its own build', () => {
    expect(templateFiles('renewer', false)).toEqual([
      'variables.pkr.hcl',
      'sources.pkr.hcl',
      'renewer.pkr.hcl',
    ]);
  });

  it.each([
    ['app', 'gce', 'app.googlecompute.app'],
    ['app', 'dry-run', 'app.null.app'],
    ['renewer', 'gce', 'renewer.googlecompute.renewer'],
  ] as const)('selects %s for --target %s as %s, a build the template defines', (role, target, name) => {
    expect(buildName(role, target)).toBe(name);
    const [build, type, source] = name.split('.');
    const template = readFileSync(join(imagePaths(CHECKOUT).packer, `${role}.pkr.hcl`), 'utf8');
    expect(template).toContain(`name = "${build}"`);
    expect(template).toContain(
      `source "source.${type}.${type === 'null' ? 'dry_run' : 'debian'}" {\n    name`,
    );
    // Provisioners name the source without the build: `only = ["null.app"]`.
    expect(template).toMatch(new RegExp(`only\\s+= \\["${type}\\.${source}"\\]`));
  });

  it('passes variables as -var pairs in key order', () => {
    expect(varArgs({ zone: 'a', content_hash: 'b=c' })).toEqual([
      '-var',
      'content_hash=b=c',
      '-var',
      'zone=a',
    ]);
  });

  describe('the Node runtime pin', () => {
    it('pins an exact Node 22 and the integrity of its tarball', () => {
      const pin = parsePin(readFileSync(join(imagePaths(CHECKOUT).provision, 'node-runtime.env'), 'utf8'));
      expect(pin.version).toMatch(/^22\.\d+\.\d+$/);
      expect(pin.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    });

    it.each([
      ['NODE_VERSION=22\nNODE_INTEGRITY=sha512-AA=='],
      ['NODE_VERSION=22.1.0\n'],
      ['NODE_VERSION=22.1.0\nNODE_INTEGRITY=sha1-AA=='],
    ])('refuses %j', (text) => {
      expect(() => parsePin(text)).toThrow(/must pin NODE_VERSION/);
    });
  });
});
