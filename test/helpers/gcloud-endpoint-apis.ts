/**
 * The APIs besides Compute Engine in the stand-in: Cloud Storage JSON v1 (buckets, their IAM
 * policy, and listing/deleting objects), IAM v1 service accounts and custom roles, Cloud
 * Resource Manager v1 projects and their IAM policy (gcloud-endpoint-iam.ts), Memorystore Redis
 * v1 instances and Service Usage v1 enabled services, both with long-running operations
 * (gcloud-endpoint-operations.ts), and Secret Manager v1 (gcloud-endpoint-secrets.ts).
 */
import { checkPolicyMembers, recordAccount, recordEnabled } from './gcloud-endpoint-consistency.ts';
import { handleProjectPolicy, handleRoles, markAccountDeleted } from './gcloud-endpoint-iam.ts';
import {
  ApiError,
  type EndpointState,
  existing,
  isObject,
  type Json,
  listUnder,
  nextId,
  type RecordedRequest,
} from './gcloud-endpoint-model.ts';
import { pollOperation, startOperation } from './gcloud-endpoint-operations.ts';
import { handleSecrets } from './gcloud-endpoint-secrets.ts';

function storage(state: EndpointState, request: RecordedRequest, body: Json): Json {
  // /storage/v1/b[/BUCKET[/iam | /o[/OBJECT]]]
  const parts = request.path.split('/').filter((p) => p !== '');
  const bucket = parts[3];
  const path = `/storage/v1/b/${bucket ?? ''}`;
  if (bucket === undefined) {
    if (request.method === 'GET')
      return { kind: 'storage#buckets', items: listUnder(state, '/storage/v1/b') };
    const name = String(body.name);
    const created = `/storage/v1/b/${name}`;
    if (state.resources.has(created))
      throw new ApiError(
        409,
        'Your previous request to create the named bucket succeeded and you already own it.',
      );
    const resource: Json = {
      kind: 'storage#bucket',
      id: name,
      selfLink: `${state.origin}${created}`,
      projectNumber: '123456789012',
      metageneration: '1',
      timeCreated: new Date().toISOString(),
      ...body,
    };
    state.resources.set(created, resource);
    state.resources.set(`${created}/iam`, {
      kind: 'storage#policy',
      resourceId: `projects/_/buckets/${name}`,
      version: 1,
      etag: 'CAE=',
      bindings: [
        { role: 'roles/storage.legacyBucketOwner', members: ['projectOwner:proj', 'projectEditor:proj'] },
        { role: 'roles/storage.legacyBucketReader', members: ['projectViewer:proj'] },
      ],
    });
    return resource;
  }
  if (parts[4] === 'iam') {
    const policy = existing(state, `${path}/iam`);
    if (request.method === 'PUT') {
      checkPolicyMembers(state.consistency, body.bindings);
      const next = {
        ...policy,
        bindings: body.bindings ?? [],
        etag: Buffer.from(`etag-${nextId(state)}`).toString('base64'),
      };
      state.resources.set(`${path}/iam`, next);
      return next;
    }
    return policy;
  }
  if (parts[4] === 'storageLayout') return { kind: 'storage#storageLayout', bucket, location: 'EU' };
  if (parts[4] === 'managedFolders') return { kind: 'storage#managedFolders', items: [] };
  if (parts[4] === 'o') {
    if (request.method === 'GET') return { kind: 'storage#objects', items: [] };
    return {};
  }
  const resource = existing(state, path);
  if (request.method === 'DELETE') {
    state.resources.delete(path);
    state.resources.delete(`${path}/iam`);
    return {};
  }
  if (request.method === 'PATCH') Object.assign(resource, body);
  return resource;
}

function iam(state: EndpointState, request: RecordedRequest, body: Json): Json {
  // /iam/v1/projects/P/(serviceAccounts[/EMAIL] | roles[/ID[:verb]])
  const parts = request.path.split('/').filter((p) => p !== '');
  if (parts[4] === 'roles' || parts[4]?.startsWith('roles:')) return handleRoles(state, request, body);
  const project = parts[3] ?? '';
  const account = parts[5];
  if (account === undefined) {
    if (request.method === 'GET')
      return { accounts: listUnder(state, `/iam/v1/projects/${project}/serviceAccounts`) };
    const id = String(body.accountId);
    const email = `${id}@${project}.iam.gserviceaccount.com`;
    const path = `/iam/v1/projects/${project}/serviceAccounts/${email}`;
    if (state.resources.has(path))
      throw new ApiError(409, `Service account ${id} already exists within project projects/${project}.`);
    const serviceAccount = isObject(body.serviceAccount) ? body.serviceAccount : {};
    const resource: Json = {
      name: `projects/${project}/serviceAccounts/${email}`,
      projectId: project,
      uniqueId: nextId(state),
      email,
      oauth2ClientId: nextId(state),
      ...serviceAccount,
    };
    state.resources.set(path, resource);
    recordAccount(state.consistency, email);
    return resource;
  }
  // gcloud names an account as projects/-/serviceAccounts/EMAIL too.
  const email = decodeURIComponent(account);
  const path = `/iam/v1/projects/${email.split('@')[1]?.split('.')[0] ?? project}/serviceAccounts/${email}`;
  const resource = existing(state, path);
  if (request.method === 'DELETE') {
    state.resources.delete(path);
    markAccountDeleted(state, email, String(resource.uniqueId));
    return {};
  }
  return resource;
}

/** A CA certificate in the shape Memorystore lists it (its content does not matter here). */
const STAND_IN_REDIS_CA =
  '-----BEGIN CERTIFICATE-----\nMIIBdTCCARugAwIBAgIBADAKBggqhkjOPQQDAjAAMB4XDTI2MDEwMTAwMDAwMFoX\n-----END CERTIFICATE-----\n';

function redis(state: EndpointState, request: RecordedRequest, body: Json): Json {
  // /redis/v1/projects/P/locations/R/(instances[/NAME] | operations/NAME)
  const parts = request.path.split('/').filter((p) => p !== '');
  const location = `projects/${parts[3]}/locations/${parts[5]}`;
  const kind = parts[6];
  const name = parts[7];
  const path = `/redis/v1/${location}/${kind}${name === undefined ? '' : `/${name}`}`;
  if (kind === 'operations' && name !== undefined) return pollOperation(state, path);
  const operation = (response: Json, verb: string, effect?: () => void): Json => {
    const opName = `${location}/operations/operation-${nextId(state)}`;
    const metadata = {
      '@type': 'type.googleapis.com/google.cloud.redis.v1.OperationMetadata',
      createTime: new Date().toISOString(),
      target: response.name ?? '',
      verb,
      apiVersion: 'v1',
    };
    return startOperation(state, `/redis/v1/${opName}`, { name: opName, metadata, response }, effect);
  };
  if (name === undefined) {
    if (request.method === 'GET') return { instances: listUnder(state, path) };
    const id = request.query.get('instanceId') ?? '';
    const created = `${path}/${id}`;
    if (state.resources.has(created))
      throw new ApiError(409, `Resource '${location}/instances/${id}' already exists`);
    // As Memorystore: with in-transit encryption the instance serves TLS on 6378 and lists the
    // CA of its server certificate; AUTH is off unless asked for.
    const tls = body.transitEncryptionMode === 'SERVER_AUTHENTICATION';
    const instance: Json = {
      ...body,
      name: `${location}/instances/${id}`,
      host: '10.30.0.3',
      port: tls ? 6378 : 6379,
      authEnabled: body.authEnabled === true,
      transitEncryptionMode: tls ? 'SERVER_AUTHENTICATION' : 'DISABLED',
      ...(tls
        ? { serverCaCerts: [{ serialNumber: '0', cert: STAND_IN_REDIS_CA, sha1Fingerprint: '00' }] }
        : {}),
      // Memorystore lists the instance CREATING until its create operation is done.
      state: 'CREATING',
      createTime: new Date().toISOString(),
      '@type': 'type.googleapis.com/google.cloud.redis.v1.Instance',
    };
    state.resources.set(created, instance);
    return operation({ ...instance, state: 'READY' }, 'create', () => {
      instance.state = 'READY';
    });
  }
  // instances.getAuthString: GET …/instances/NAME/authString; empty when AUTH is off.
  if (parts[8] === 'authString') {
    const auth = existing(state, path);
    return auth.authEnabled === true ? { authString: `auth-${String(name)}-0123456789abcdef` } : {};
  }
  const instance = existing(state, path);
  if (request.method === 'DELETE') {
    instance.state = 'DELETING';
    return operation(
      { '@type': 'type.googleapis.com/google.protobuf.Empty', name: instance.name },
      'delete',
      () => state.resources.delete(path),
    );
  }
  return instance;
}

function serviceUsage(state: EndpointState, request: RecordedRequest, body: Json): Json {
  // /serviceusage/v1/(operations/NAME | projects/P/services[:batchEnable | /NAME[:enable]])
  const parts = request.path.split('/').filter((p) => p !== '');
  if (parts[2] === 'operations') return pollOperation(state, request.path);
  const project = parts[3] ?? '';
  const enabled = (state.resources.get(`/serviceusage/v1/projects/${project}`)?.enabled ?? []) as string[];
  // `gcloud services enable A B` sends :batchEnable; with one service, services/A:enable.
  const single = /\/services\/([^/:]+):enable$/.exec(request.path)?.[1];
  if (request.method === 'POST' && (single !== undefined || request.path.endsWith(':batchEnable'))) {
    const ids =
      single !== undefined ? [single] : Array.isArray(body.serviceIds) ? body.serviceIds.map(String) : [];
    const name = `operations/acf.p2-123456789012-${nextId(state)}`;
    // The services are enabled when the operation is done.
    return startOperation(
      state,
      `/serviceusage/v1/${name}`,
      {
        name,
        metadata: { '@type': 'type.googleapis.com/google.protobuf.Empty' },
        response: {
          '@type': 'type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse',
          services: ids.map((id) => ({ name: `projects/123456789012/services/${id}`, state: 'ENABLED' })),
        },
      },
      () => {
        recordEnabled(state.consistency, ids);
        const now = (state.resources.get(`/serviceusage/v1/projects/${project}`)?.enabled ?? []) as string[];
        state.resources.set(`/serviceusage/v1/projects/${project}`, {
          enabled: [...new Set([...now, ...ids])],
        });
      },
    );
  }
  return {
    services: enabled.map((id) => ({
      name: `projects/123456789012/services/${id}`,
      config: { name: id },
      state: 'ENABLED',
      parent: 'projects/123456789012',
    })),
  };
}

/**
 * Cloud Resource Manager v1 `projects.getEffectiveOrgPolicy`: the policy the stand-in's project
 * has for a constraint, or one that sets nothing (the constraint's default) as Google answers.
 */
function effectiveOrgPolicy(state: EndpointState, constraint: string): Json {
  if (!state.orgPoliciesReadable) throw new ApiError(403, 'The caller does not have permission');
  const set = state.orgPolicies.get(constraint);
  return { version: 1, constraint, etag: 'BwYAAAAAAAA=', ...(set ?? {}) };
}

/** Answers a request to any API but Compute Engine, or throws an ApiError. */
export function handleApis(state: EndpointState, request: RecordedRequest): Json {
  const body = isObject(request.body) ? request.body : {};
  if (request.path.startsWith('/storage/v1/')) return storage(state, request, body);
  if (request.path.startsWith('/iam/')) return iam(state, request, body);
  if (request.path.startsWith('/redis/')) return redis(state, request, body);
  if (request.path.startsWith('/serviceusage/')) return serviceUsage(state, request, body);
  if (request.path.startsWith('/secretmanager/')) return handleSecrets(state, request, body);
  if (request.path.startsWith('/cloudresourcemanager/')) {
    const [project = '', method] = (request.path.split('/').filter((p) => p !== '')[3] ?? '').split(':');
    if (method === 'getEffectiveOrgPolicy') return effectiveOrgPolicy(state, String(body.constraint));
    if ((method === 'getIamPolicy' || method === 'setIamPolicy') && request.method === 'POST')
      return handleProjectPolicy(state, method, body);
    return { projectNumber: '123456789012', projectId: project, lifecycleState: 'ACTIVE', name: project };
  }
  throw new ApiError(404, `No API at ${request.path}`);
}
