/**
 * IAM in the stand-in beyond service accounts: a project's custom roles (IAM v1
 * `projects.roles`, as `gcloud iam roles create|describe|update|delete|undelete --project`
 * call it), the project's own IAM policy (Cloud Resource Manager v1 `projects:getIamPolicy` and
 * `:setIamPolicy`, what `gcloud projects add-iam-policy-binding` reads and writes), and what
 * Google does to every policy when a service account is deleted.
 *
 * As Google documents it: a deleted custom role stays readable (`deleted: true`) and may be
 * undeleted for 7 days; no new role may take its id for 37 days ("You can't create a role with
 * role_id (…) where there is an existing role with that role_id in a deleted state.", 400
 * FAILED_PRECONDITION); a policy may not bind it meanwhile. A deleted service account's
 * bindings linger as `deleted:serviceAccount:EMAIL?uid=UNIQUE_ID`, which a new account of the
 * same email does not inherit.
 */
import { checkPolicyMembers } from './gcloud-endpoint-consistency.ts';
import {
  ApiError,
  type EndpointState,
  existing,
  isObject,
  type Json,
  nextId,
  type RecordedRequest,
} from './gcloud-endpoint-model.ts';

const ROLE_ID = /^[a-zA-Z0-9_.]{3,64}$/;

function precondition(message: string): ApiError {
  return new ApiError(400, message, {
    error: {
      code: 400,
      message,
      status: 'FAILED_PRECONDITION',
      errors: [{ message, domain: 'global', reason: 'failedPrecondition' }],
    },
  });
}

function withEtag(role: Json, state: EndpointState): Json {
  return { ...role, etag: Buffer.from(`role-${nextId(state)}`).toString('base64') };
}

/** Answers /iam/v1/projects/P/roles[/ID[:verb]]. */
export function handleRoles(state: EndpointState, request: RecordedRequest, body: Json): Json {
  const parts = request.path.split('/').filter((p) => p !== '');
  const project = parts[3] ?? '';
  const [id = '', verb] = (parts[5] ?? '').split(':');
  const collection = `/iam/v1/projects/${project}/roles`;
  if (id === '') {
    if (request.method === 'GET') {
      const showDeleted = request.query.get('showDeleted') === 'true';
      const roles = [...state.resources.entries()]
        .filter(([path, role]) => path.startsWith(`${collection}/`) && (showDeleted || role.deleted !== true))
        .map(([, role]) => role);
      return roles.length === 0 ? {} : { roles };
    }
    const roleId = String(body.roleId ?? '');
    if (!ROLE_ID.test(roleId))
      throw new ApiError(
        400,
        `The role_id (${roleId}) is invalid: it must be 3 to 64 letters, digits, underscores and periods.`,
      );
    const path = `${collection}/${roleId}`;
    const had = state.resources.get(path);
    if (had?.deleted === true)
      throw precondition(
        `You can't create a role with role_id (${roleId}) where there is an existing role with that role_id in a deleted state.`,
      );
    if (had !== undefined)
      throw new ApiError(409, `A role named ${roleId} in projects/${project} already exists.`);
    const role = isObject(body.role) ? body.role : {};
    const created = withEtag(
      {
        name: `projects/${project}/roles/${roleId}`,
        title: role.title ?? roleId,
        ...(role.description === undefined ? {} : { description: role.description }),
        includedPermissions: Array.isArray(role.includedPermissions) ? role.includedPermissions : [],
        stage: role.stage ?? 'ALPHA',
      },
      state,
    );
    state.resources.set(path, created);
    return created;
  }
  const path = `${collection}/${id}`;
  const role = existing(state, path);
  if (verb === 'undelete' && request.method === 'POST') {
    const { deleted: _, ...live } = role;
    const next = withEtag(live, state);
    state.resources.set(path, next);
    return next;
  }
  if (verb !== undefined) throw new ApiError(404, `No method ${verb} on roles`);
  if (request.method === 'DELETE') {
    const next = withEtag({ ...role, deleted: true }, state);
    state.resources.set(path, next);
    return next;
  }
  if (request.method === 'PATCH') {
    if (role.deleted === true) throw precondition(`You can't update a deleted role (${id}).`);
    const mask = (request.query.get('updateMask') ?? '').split(',').filter((f) => f !== '');
    const next: Json = { ...role };
    for (const field of mask) if (field in body) next[field] = body[field];
    const updated = withEtag(next, state);
    state.resources.set(path, updated);
    return updated;
  }
  return role;
}

const PROJECT_POLICY = '/cloudresourcemanager/v1/project-iam';

/** Refuses a binding of a custom role that does not exist or is deleted, as Google does. */
function checkRoles(state: EndpointState, bindings: unknown): void {
  for (const b of Array.isArray(bindings) ? (bindings as Json[]) : []) {
    const role = String(b.role ?? '');
    const custom = /^projects\/([^/]+)\/roles\/([^/]+)$/.exec(role);
    if (custom === null) continue;
    const found = state.resources.get(`/iam/v1/projects/${custom[1]}/roles/${custom[2]}`);
    if (found === undefined || found.deleted === true)
      throw new ApiError(400, `Role (${role}) does not exist in the resource's hierarchy.`);
  }
}

/** Answers POST /cloudresourcemanager/v1/projects/P:getIamPolicy and :setIamPolicy. */
export function handleProjectPolicy(state: EndpointState, method: string, body: Json): Json {
  const policy = state.resources.get(PROJECT_POLICY) ?? {
    version: 1,
    etag: 'BwYAAAAAAAA=',
    bindings: [{ role: 'roles/owner', members: ['user:owner@example.com'] }],
  };
  if (method === 'getIamPolicy') return policy;
  const next = isObject(body.policy) ? body.policy : {};
  if (next.etag !== undefined && next.etag !== policy.etag)
    throw new ApiError(
      409,
      'There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.',
    );
  checkPolicyMembers(state.consistency, next.bindings);
  checkRoles(state, next.bindings);
  const stored: Json = {
    version: next.version ?? 1,
    bindings: Array.isArray(next.bindings) ? next.bindings : [],
    etag: Buffer.from(`project-${nextId(state)}`).toString('base64'),
  };
  state.resources.set(PROJECT_POLICY, stored);
  return stored;
}

/** Where the stand-in keeps IAM policies: buckets', secrets' and the project's. */
function isPolicyPath(path: string): boolean {
  return path === PROJECT_POLICY || /^\/(storage\/v1\/b|secretmanager\/v1\/secrets)\/[^/]+\/iam$/.test(path);
}

/**
 * A service account is deleted: each policy that names it now names
 * `deleted:serviceAccount:EMAIL?uid=UNIQUE_ID` instead (what `get-iam-policy` shows afterwards).
 */
export function markAccountDeleted(state: EndpointState, email: string, uniqueId: string): void {
  const live = `serviceAccount:${email}`;
  for (const [path, policy] of state.resources) {
    if (!isPolicyPath(path) || !Array.isArray(policy.bindings)) continue;
    policy.bindings = (policy.bindings as Json[]).map((b) => ({
      ...b,
      members: (Array.isArray(b.members) ? b.members.map(String) : []).map((m) =>
        m === live ? `deleted:${live}?uid=${uniqueId}` : m,
      ),
    }));
  }
}
