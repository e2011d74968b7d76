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
      `storage buckets remove-iam-policy-binding gs://${BUCKET} --member=${APP} --role=roles/storage.objectViewer`,
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
});
