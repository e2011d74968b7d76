/**
 * The checks before an image build or a deploy, on what gcloud answers: each blocker is named
 * with what to do, a project without blockers passes, and answers of any shape never throw.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build/build-image.ts';
import {
  buildPreflight,
  CONSTRAINTS,
  type GcloudRead,
  imageProblems,
  listAllows,
  opensSsh,
} from '../../images/build/gce-preflight.ts';
import { dryRunRequest, PATHS } from '../helpers/packer-record.ts';

const SSH = {
  direction: 'INGRESS',
  sourceRanges: ['0.0.0.0/0'],
  allowed: [{ IPProtocol: 'tcp', ports: ['22'] }],
};

/** A project that answers `answers[args joined]`; an Error answer is thrown. */
function project(answers: Record<string, unknown>): GcloudRead {
  return async (args) => {
    const answer = answers[args.join(' ')];
    if (answer instanceof Error) throw answer;
    return answer;
  };
}

const ready: Record<string, unknown> = {
  'auth application-default print-access-token': 'ya29.token',
  'compute networks describe default': { name: 'default' },
  'compute firewall-rules list --filter=network:default': [SSH],
};
const settings = { project: 'proj-test', network: '', useOsLogin: false };

describe('the image build preflight', () => {
  it('passes a project with credentials, a network open to SSH and no blocking policy', async () => {
    expect(await buildPreflight(project(ready), settings)).toEqual([]);
  });

  it('names every blocker at once, each with what to do', async () => {
    const problems = await buildPreflight(
      project({
        'auth application-default print-access-token': new Error('no credentials'),
        [`resource-manager org-policies describe ${CONSTRAINTS.requireOsLogin} --effective`]: {
          booleanPolicy: { enforced: true },
        },
        [`resource-manager org-policies describe ${CONSTRAINTS.vmExternalIpAccess} --effective`]: {
          listPolicy: { allValues: 'DENY' },
        },
      }),
      settings,
    );
    expect(problems).toHaveLength(4);
    expect(problems[0]).toContain('gcloud auth application-default login');
    expect(problems[1]).toContain('gcloud compute networks create default');
    expect(problems[2]).toContain('use_os_login=true');
    expect(problems[3]).toContain('constraints/compute.vmExternalIpAccess');
  });

  it('takes use_os_login=true as the answer to an enforced OS Login', async () => {
    const read = project({
      ...ready,
      [`resource-manager org-policies describe ${CONSTRAINTS.requireOsLogin} --effective`]: {
        booleanPolicy: { enforced: true },
      },
    });
    expect(await buildPreflight(read, { ...settings, useOsLogin: true })).toEqual([]);
  });

  it('wants an SSH rule for every VM from anywhere', async () => {
    const rules = (rule: object) =>
      buildPreflight(
        project({ ...ready, 'compute firewall-rules list --filter=network:default': [rule] }),
        settings,
      );
    expect(await rules({ ...SSH, targetTags: ['web'] })).toHaveLength(1);
    expect(await rules({ ...SSH, sourceRanges: ['10.0.0.0/8'] })).toHaveLength(1);
    expect(await rules({ ...SSH, disabled: true })).toHaveLength(1);
    expect(await rules({ ...SSH, allowed: [{ IPProtocol: 'tcp', ports: ['80', '443'] }] })).toHaveLength(1);
    expect(await rules({ ...SSH, allowed: [{ IPProtocol: 'tcp', ports: ['20-30'] }] })).toEqual([]);
    expect(await rules({ ...SSH, allowed: [{ IPProtocol: 'all' }] })).toEqual([]);
  });

  it('reads list policies as Google applies them to a new VM', () => {
    expect(listAllows(undefined, 'x')).toBe(true);
    expect(listAllows({ listPolicy: { allValues: 'DENY' } }, 'x')).toBe(false);
    expect(listAllows({ listPolicy: { allowedValues: ['projects/p/zones/z/instances/other'] } }, 'x')).toBe(
      false,
    );
    expect(listAllows({ listPolicy: { deniedValues: ['x'] } }, 'x')).toBe(false);
    expect(listAllows({ listPolicy: { deniedValues: ['y'] } }, 'x')).toBe(true);
  });

  it('never throws on answers of any shape, and answers a list of lines', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything(), fc.anything(), fc.anything(), async (network, rules, policy) => {
        const read: GcloudRead = async (args) =>
          args[1] === 'networks' ? network : args[1] === 'firewall-rules' ? rules : policy;
        const problems = await buildPreflight(read, settings);
        expect(problems.every((p) => typeof p === 'string')).toBe(true);
        expect(imageProblems('i', policy, 'p').length).toBeLessThanOrEqual(1);
        expect(typeof opensSsh(rules)).toBe('boolean');
        expect(typeof listAllows(policy, 'x')).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });
});

describe('the image check', () => {
  it('wants UEFI_COMPATIBLE, and says how to get it', () => {
    expect(imageProblems('i', { guestOsFeatures: [{ type: 'UEFI_COMPATIBLE' }] }, 'p')).toEqual([]);
    expect(imageProblems('i', { guestOsFeatures: [{ type: 'VIRTIO_SCSI_MULTIQUEUE' }] }, 'p')[0]).toMatch(
      /lacks the guest OS feature UEFI_COMPATIBLE.*wsfleet images build/,
    );
    expect(imageProblems('i', {}, 'p')).toHaveLength(1);
    expect(imageProblems('i', undefined, 'p')[0]).toContain('does not exist in project p');
  });
});

describe('wsfleet images build --target gce', () => {
  it('stops before packer builds anything when the project has a blocker, naming each', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsfleet-preflight-'));
    const asked: string[] = [];
    try {
      const read: GcloudRead = async (args) => {
        asked.push(args.join(' '));
        return project({ ...ready, 'compute networks describe default': undefined })(args);
      };
      let out = '';
      const build = buildImage(
        // The real packer: its version is read first (a machine without packer is told so before any
        // look at the project), then the checks stop the build before anything is staged or built.
        dryRunRequest(dir, 'app', { target: 'gce', project: 'proj-test', packer: 'packer' }),
        { paths: PATHS, write: (t) => (out += t), gcloud: read },
      );
      await expect(build).rejects.toMatchObject({
        code: 'WSFLEET_PREFLIGHT_FAILED',
        message: expect.stringContaining('the build network default does not exist'),
      });
      expect(asked[0]).toBe('auth application-default print-access-token');
      expect(out).toContain('checking proj-test');
      expect(out).not.toContain('staged');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
