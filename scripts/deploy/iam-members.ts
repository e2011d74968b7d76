/**
 * A member's bindings in an IAM policy as gcloud's `get-iam-policy` shows it. A deleted service
 * account's bindings linger as `deleted:serviceAccount:EMAIL?uid=UNIQUE_ID`: they grant nothing
 * (a new account of the same email is another principal), but they are still the fleet's to
 * remove, so the steps that grant or remove a member look for both forms.
 */

type Json = Record<string, unknown>;

/** The bindings of a policy, whatever gcloud printed. */
export function bindingsOf(policy: unknown): Json[] {
  const bindings = (policy as Json | undefined)?.bindings;
  return Array.isArray(bindings)
    ? (bindings as Json[]).filter((b) => typeof b === 'object' && b !== null)
    : [];
}

/** Whether `role` is bound to `member` itself (not to a deleted account of its email). */
export function isBound(policy: unknown, role: string, member: string): boolean {
  return bindingsOf(policy).some(
    (b) => b.role === role && Array.isArray(b.members) && b.members.includes(member),
  );
}

/** The `deleted:` forms of `member` (a service account) bound to `role`, each as gcloud names it. */
export function deletedForms(policy: unknown, role: string, member: string): string[] {
  const prefix = `deleted:${member}?uid=`;
  return bindingsOf(policy)
    .filter((b) => b.role === role && Array.isArray(b.members))
    .flatMap((b) => (b.members as unknown[]).map(String).filter((m) => m.startsWith(prefix)));
}

/** Whether any binding of the policy has a condition (gcloud then wants `--condition=None`). */
export function hasConditions(policy: unknown): boolean {
  return bindingsOf(policy).some((b) => b.condition !== undefined && b.condition !== null);
}
