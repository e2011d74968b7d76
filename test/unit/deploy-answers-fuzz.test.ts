/**
 * What gcloud prints for the secret and IAM steps comes from Google's APIs: whatever JSON it is,
 * the readers of those answers return a well-formed result and never throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindingsOf, deletedForms, hasConditions, isBound } from '../../scripts/deploy/iam-members.ts';
import { enabledVersions } from '../../scripts/deploy/rotation.ts';
import { fuzzOptions, fuzzRuns } from '../helpers/fuzz.ts';

const RUNS = fuzzRuns(500);
const MEMBER = 'serviceAccount:wsfleet-app@proj-test.iam.gserviceaccount.com';
const ROLE = 'roles/secretmanager.secretAccessor';

/** Answers shaped like Google's, with any field replaced by any JSON. */
const anyJson = fc.jsonValue({ maxDepth: 3 });
const version = fc.record(
  {
    name: fc.oneof(
      fc.nat({ max: 50 }).map((n) => `projects/1/secrets/s/versions/${n}`),
      anyJson,
    ),
    state: fc.oneof(fc.constantFrom('ENABLED', 'DISABLED', 'DESTROYED'), anyJson),
    createTime: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      anyJson,
    ),
  },
  { requiredKeys: [] },
);
const binding = fc.record(
  {
    role: fc.oneof(fc.constant(ROLE), anyJson),
    members: fc.oneof(
      fc.array(fc.oneof(fc.constant(MEMBER), fc.constant(`deleted:${MEMBER}?uid=123`), anyJson), {
        maxLength: 4,
      }),
      anyJson,
    ),
    condition: fc.oneof(fc.constant(undefined), fc.constant(null), anyJson),
  },
  { requiredKeys: [] },
);

describe('readers of gcloud answers (fuzz)', () => {
  it('lists enabled versions newest first, each with a whole number, from any answer', () => {
    fc.assert(
      fc.property(fc.oneof(anyJson, fc.array(fc.oneof(version, anyJson), { maxLength: 6 })), (answer) => {
        const versions = enabledVersions(answer);
        for (const v of versions) expect(Number.isInteger(v.number)).toBe(true);
        for (let i = 1; i < versions.length; i++)
          expect((versions[i - 1] as { number: number }).number).toBeGreaterThanOrEqual(
            (versions[i] as { number: number }).number,
          );
      }),
      fuzzOptions(RUNS),
    );
  });

  it('reads bindings, grants and deleted forms from any policy', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyJson,
          fc.record({ bindings: fc.oneof(anyJson, fc.array(fc.oneof(binding, anyJson), { maxLength: 5 })) }),
        ),
        (policy) => {
          const bindings = bindingsOf(policy);
          for (const b of bindings) expect(typeof b === 'object' && b !== null).toBe(true);
          expect(typeof isBound(policy, ROLE, MEMBER)).toBe('boolean');
          expect(typeof hasConditions(policy)).toBe('boolean');
          for (const form of deletedForms(policy, ROLE, MEMBER))
            expect(form.startsWith(`deleted:${MEMBER}?uid=`)).toBe(true);
        },
      ),
      fuzzOptions(RUNS),
    );
  });
});
