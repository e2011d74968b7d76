import { describe, expect, it } from 'vitest';
import { appReadCondition, BUCKET_ROLES, bucketBindingStep } from '../../scripts/deploy/plan-foundation.ts';

const BUCKET = 'proj-wsfleet-certs';
const APP = 'serviceAccount:wsfleet-app@proj.iam.gserviceaccount.com';
const condition = appReadCondition(BUCKET);
const conditionFlag = `--condition=expression=resource.name.startsWith("projects/_/buckets/${BUCKET}/objects/certs/"),title=wsfleet-certs-only`;
const plan = (mode: 'add' | 'remove', bindings: unknown[]) =>
  bucketBindingStep(BUCKET, APP, BUCKET_ROLES.app, mode, mode === 'add' ? condition : undefined)
    .plan({ bindings })
    .map((args) => args.join(' '));

describe('the app VMs’ access to the certificate bucket', () => {
  it('is read access to certs/ only, so neither the account key nor the renewer state is readable', () => {
    expect(condition.expression).toBe(
      `resource.name.startsWith("projects/_/buckets/${BUCKET}/objects/certs/")`,
    );
    expect(plan('add', [])).toEqual([
      `storage buckets add-iam-policy-binding gs://${BUCKET} --member=${APP} --role=roles/storage.objectViewer ${conditionFlag}`,
    ]);
  });

  it('replaces the whole-bucket binding an older deploy made', () => {
    expect(plan('add', [{ role: 'roles/storage.objectViewer', members: [APP] }])).toEqual([
      `storage buckets add-iam-policy-binding gs://${BUCKET} --member=${APP} --role=roles/storage.objectViewer ${conditionFlag}`,
      `storage buckets remove-iam-policy-binding gs://${BUCKET} --member=${APP} --role=roles/storage.objectViewer --condition=None`,
    ]);
  });

  it('changes nothing when the conditional binding is there', () => {
    expect(plan('add', [{ role: 'roles/storage.objectViewer', members: [APP], condition }])).toEqual([]);
  });

  it('is removed by a teardown with its condition, which gcloud needs to find it', () => {
    expect(plan('remove', [{ role: 'roles/storage.objectViewer', members: [APP], condition }])).toEqual([
      `storage buckets remove-iam-policy-binding gs://${BUCKET} --member=${APP} --role=roles/storage.objectViewer ${conditionFlag}`,
    ]);
    expect(plan('remove', [])).toEqual([]);
  });

  it('adds and removes a binding without condition with --condition=None once the policy holds conditions', () => {
    const RENEWER = 'serviceAccount:wsfleet-renewer@proj.iam.gserviceaccount.com';
    const conditional = { role: 'roles/storage.objectViewer', members: [APP], condition };
    const renewer = (mode: 'add' | 'remove', bindings: unknown[]) =>
      bucketBindingStep(BUCKET, RENEWER, BUCKET_ROLES.renewer, mode)
        .plan({ bindings })
        .map((args) => args.join(' '));
    expect(
      renewer('remove', [{ role: 'roles/storage.objectAdmin', members: [RENEWER] }, conditional]),
    ).toEqual([
      `storage buckets remove-iam-policy-binding gs://${BUCKET} --member=${RENEWER} --role=roles/storage.objectAdmin --condition=None`,
    ]);
    expect(renewer('add', [conditional])).toEqual([
      `storage buckets add-iam-policy-binding gs://${BUCKET} --member=${RENEWER} --role=roles/storage.objectAdmin --condition=None`,
    ]);
    // Without conditions in the policy, gcloud needs no such flag.
    expect(renewer('remove', [{ role: 'roles/storage.objectAdmin', members: [RENEWER] }])).toEqual([
      `storage buckets remove-iam-policy-binding gs://${BUCKET} --member=${RENEWER} --role=roles/storage.objectAdmin`,
    ]);
  });
});
