/**
 * Secret Manager v1 in the API stand-in, as gcloud 528's `gcloud secrets` calls it
 * (generated_clients/apis/secretmanager/v1): secrets created with `?secretId=`, versions added
 * with `:addVersion` (the payload's CRC32C checked when sent, and said so in
 * `clientSpecifiedPayloadChecksum`, as the API does), `:access` of a
 * version or `latest` (the newest enabled one, with its `dataCrc32c`, which gcloud verifies),
 * versions listed, disabled and enabled, `:getIamPolicy` (GET) and `:setIamPolicy` (POST) on a
 * secret, and deletion. Google names a secret by project number in what it returns.
 */
import { crc32c } from '../../daemons/app/crc32c.ts';
import { checkPolicyMembers, PROJECT_NUMBER } from './gcloud-endpoint-consistency.ts';
import {
  ApiError,
  type EndpointState,
  existing,
  type Json,
  nextId,
  notFound,
  type RecordedRequest,
} from './gcloud-endpoint-model.ts';

/** Where the stand-in keeps a secret (one project: its id and number name the same secret). */
export function secretPath(id: string): string {
  return `/secretmanager/v1/secrets/${id}`;
}

interface Version {
  readonly number: number;
  state: 'ENABLED' | 'DISABLED' | 'DESTROYED';
  readonly data: string;
  readonly createTime: string;
}

function versionsOf(state: EndpointState, id: string): Version[] {
  const holder = state.resources.get(`${secretPath(id)}/versions`);
  return (holder?.versions as Version[] | undefined) ?? [];
}

function versionJson(id: string, v: Version): Json {
  return {
    name: `projects/${PROJECT_NUMBER}/secrets/${id}/versions/${v.number}`,
    createTime: v.createTime,
    state: v.state,
    replicationStatus: { automatic: {} },
    etag: `"${v.number}"`,
  };
}

function addVersion(state: EndpointState, id: string, body: Json): Json {
  const payload = (body.payload ?? {}) as Json;
  const data = typeof payload.data === 'string' ? payload.data : '';
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > 64 * 1024) throw new ApiError(400, 'Secret Payload cannot exceed 65536 bytes.');
  if (payload.dataCrc32c !== undefined && String(payload.dataCrc32c) !== String(crc32c(bytes)))
    throw new ApiError(400, 'Checksum mismatch: the data_crc32c does not match the payload.');
  const versions = versionsOf(state, id);
  const version: Version = {
    number: versions.length + 1,
    state: 'ENABLED',
    data,
    createTime: new Date().toISOString(),
  };
  state.resources.set(`${secretPath(id)}/versions`, { versions: [...versions, version] });
  // Google says whether it checked a checksum; `gcloud secrets versions add` fails without it.
  return { ...versionJson(id, version), clientSpecifiedPayloadChecksum: payload.dataCrc32c !== undefined };
}

function version(state: EndpointState, id: string, which: string): Version {
  const versions = versionsOf(state, id);
  const found =
    which === 'latest'
      ? versions.filter((v) => v.state === 'ENABLED').at(-1)
      : versions.find((v) => String(v.number) === which);
  if (found === undefined) throw notFound(`projects/${PROJECT_NUMBER}/secrets/${id}/versions/${which}`);
  return found;
}

/** Answers /secretmanager/v1/projects/P/secrets[…]. */
export function handleSecrets(state: EndpointState, request: RecordedRequest, body: Json): Json {
  // …/secrets | …/secrets/ID[:verb] | …/secrets/ID/versions[/V[:verb]]
  const parts = request.path.split('/').filter((p) => p !== '');
  const [idAndVerb = '', sub, versionAndVerb] = parts.slice(5);
  const [id = '', verb] = idAndVerb.split(':');
  if (id === '') {
    if (request.method === 'GET') {
      const secrets = [...state.resources.entries()]
        .filter(([path]) => /^\/secretmanager\/v1\/secrets\/[^/]+$/.test(path))
        .map(([, value]) => value);
      return secrets.length === 0 ? {} : { secrets, totalSize: secrets.length };
    }
    const secretId = request.query.get('secretId') ?? '';
    if (!/^[a-zA-Z0-9_-]{1,255}$/.test(secretId))
      throw new ApiError(400, `Invalid secret id: ${JSON.stringify(secretId)}`);
    if (state.resources.has(secretPath(secretId)))
      throw new ApiError(409, `Secret [projects/${PROJECT_NUMBER}/secrets/${secretId}] already exists.`);
    const secret: Json = {
      ...body,
      name: `projects/${PROJECT_NUMBER}/secrets/${secretId}`,
      createTime: new Date().toISOString(),
      etag: `"${nextId(state)}"`,
    };
    state.resources.set(secretPath(secretId), secret);
    return secret;
  }
  const secret = existing(state, secretPath(id));
  if (sub === undefined) {
    if (verb === 'addVersion' && request.method === 'POST') return addVersion(state, id, body);
    if (verb === 'getIamPolicy') return state.resources.get(`${secretPath(id)}/iam`) ?? { etag: 'ACAB' };
    if (verb === 'setIamPolicy' && request.method === 'POST') {
      const policy = (body.policy ?? {}) as Json;
      checkPolicyMembers(state.consistency, policy.bindings);
      const next: Json = {
        version: 1,
        ...(Array.isArray(policy.bindings) && policy.bindings.length > 0
          ? { bindings: policy.bindings }
          : {}),
        etag: Buffer.from(`etag-${nextId(state)}`).toString('base64'),
      };
      state.resources.set(`${secretPath(id)}/iam`, next);
      return next;
    }
    if (verb !== undefined) throw new ApiError(404, `No method ${verb} on secrets`);
    if (request.method === 'DELETE') {
      for (const suffix of ['', '/versions', '/iam']) state.resources.delete(`${secretPath(id)}${suffix}`);
      return {};
    }
    return secret;
  }
  if (sub !== 'versions') throw notFound(request.path);
  if (versionAndVerb === undefined) {
    const versions = versionsOf(state, id)
      .filter((v) => v.state !== 'DESTROYED')
      .reverse()
      .map((v) => versionJson(id, v));
    return versions.length === 0 ? {} : { versions, totalSize: versions.length };
  }
  const [which = '', action] = versionAndVerb.split(':');
  const v = version(state, id, which);
  if (action === 'access') {
    if (v.state !== 'ENABLED') {
      // Google's answer for a disabled or destroyed version: 400 FAILED_PRECONDITION.
      const message = `Secret Version [${versionJson(id, v).name}] is in ${v.state} state.`;
      throw new ApiError(400, message, {
        error: { code: 400, message, status: 'FAILED_PRECONDITION' },
      });
    }
    const bytes = Buffer.from(v.data, 'base64');
    return {
      name: versionJson(id, v).name,
      payload: { data: v.data, dataCrc32c: String(crc32c(bytes)) },
    };
  }
  if (action === 'disable' || action === 'enable' || action === 'destroy') {
    v.state = action === 'enable' ? 'ENABLED' : action === 'disable' ? 'DISABLED' : 'DESTROYED';
    return versionJson(id, v);
  }
  if (action !== undefined) throw new ApiError(404, `No method ${action} on versions`);
  return versionJson(id, v);
}
