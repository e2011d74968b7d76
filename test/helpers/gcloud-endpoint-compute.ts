/**
 * Compute Engine v1 in the API stand-in: insert/get/list/patch/delete on every collection under
 * `projects/P/{global,regions/R,zones/Z}`, operations that are DONE at once (get and wait), and
 * the actions the deploy's commands call: managed groups' instances (listManagedInstances,
 * createInstances, listPerInstanceConfigs), a backend service's getHealth. A managed group gets
 * running instances of its template when created, and a patch of its versions moves them all
 * to the new template at once (a rollout that finished).
 */
import {
  ApiError,
  type EndpointState,
  existing,
  isObject,
  type Json,
  listUnder,
  nextId,
  notFound,
  type RecordedRequest,
} from './gcloud-endpoint-model.ts';

const GROUPS = new Set(['instanceGroupManagers', 'regionInstanceGroupManagers']);

interface Parsed {
  /** `/compute/v1/projects/P/regions/R` */
  readonly scope: string;
  readonly zone: string | undefined;
  readonly region: string | undefined;
  readonly collection: string | undefined;
  readonly name: string | undefined;
  readonly action: string | undefined;
  readonly rest: readonly string[];
}

function parse(path: string): Parsed {
  const parts = path.split('/').filter((p) => p !== '');
  // compute, v1, projects, P, then a scope.
  const head = parts.slice(0, 4);
  let i = 4;
  let zone: string | undefined;
  let region: string | undefined;
  if (parts[i] === 'global' || parts[i] === 'aggregated') i += 1;
  else if (parts[i] === 'zones') {
    zone = parts[i + 1];
    i += 2;
  } else if (parts[i] === 'regions') {
    region = parts[i + 1];
    i += 2;
  }
  const scope = `/${[...head, ...parts.slice(4, i)].join('/')}`;
  return {
    scope,
    zone,
    region,
    collection: parts[i],
    name: parts[i + 1],
    action: parts[i + 2],
    rest: parts.slice(i + 3),
  };
}

function link(state: EndpointState, path: string): string {
  return `${state.origin}${path}`;
}

/** The path of a link gcloud sent (full URL, or relative to the API root). */
function pathOf(state: EndpointState, value: unknown): string {
  const text = String(value);
  if (text.startsWith(state.origin)) return text.slice(state.origin.length);
  if (text.startsWith('projects/')) return `/compute/v1/${text}`;
  return text;
}

function operation(state: EndpointState, p: Parsed, type: string, target: string): Json {
  const id = nextId(state);
  const now = new Date().toISOString();
  const opPath = `${p.scope}/operations/operation-${id}`;
  const op: Json = {
    kind: 'compute#operation',
    id,
    name: `operation-${id}`,
    operationType: type,
    targetLink: link(state, target),
    targetId: id,
    status: 'DONE',
    user: 'deployer@example.com',
    progress: 100,
    insertTime: now,
    startTime: now,
    endTime: now,
    selfLink: link(state, opPath),
    ...(p.zone === undefined ? {} : { zone: link(state, p.scope) }),
    ...(p.region === undefined ? {} : { region: link(state, p.scope) }),
    _polls: state.operationPolls,
  };
  state.resources.set(opPath, op);
  return operationView(op);
}

/**
 * An operation as it stands: RUNNING (no endTime, progress 0) while it has polls left, each get
 * or wait of it using one, then DONE, as a slow insert is seen by gcloud, which polls.
 */
function operationView(op: Json): Json {
  const left = Number(op._polls ?? 0);
  if (left <= 0) return view(op);
  const { endTime: _end, ...running } = view(op);
  return { ...running, status: 'RUNNING', progress: 0 };
}

function pollOperation(op: Json): Json {
  const answer = operationView(op);
  op._polls = Math.max(0, Number(op._polls ?? 0) - 1);
  return answer;
}

function managedInstances(group: Json): Json[] {
  return Array.isArray(group._instances) ? (group._instances as Json[]) : [];
}

/** Public view of a resource: without the stand-in's own bookkeeping (`_…` keys). */
function view(resource: Json): Json {
  return Object.fromEntries(Object.entries(resource).filter(([key]) => !key.startsWith('_')));
}

function templateOf(group: Json): unknown {
  const versions = Array.isArray(group.versions) ? (group.versions as Json[]) : [];
  return versions[0]?.instanceTemplate ?? group.instanceTemplate;
}

/** The project number Google names in a constraint's violation (the stand-in's projects share it). */
const PROJECT_NUMBER = '123456789012';

/** Google's words for a VM a constraint refuses (an instance's insert and a group's listErrors). */
function violation(constraint: string, instancePath: string): string {
  const tail =
    constraint === 'constraints/compute.vmExternalIpAccess'
      ? ` Add instance ${instancePath.replace('/compute/v1/', '')} to the constraint to use external IP with it.`
      : '';
  return `Constraint ${constraint} violated for project ${PROJECT_NUMBER}.${tail}`;
}

/**
 * An instance insert that a constraint refuses: HTTP 412 with reason conditionNotMet, as
 * Compute Engine answers it (`googleapi: Error 412: Constraint … violated …, conditionNotMet`).
 * vmExternalIpAccess refuses only an instance with an external address (an access config).
 */
function refuseInstance(state: EndpointState, path: string, body: Json): void {
  const constraint = state.orgPolicyRefusal;
  if (constraint === undefined) return;
  const nics = Array.isArray(body.networkInterfaces) ? (body.networkInterfaces as Json[]) : [];
  const external = nics.some((n) => Array.isArray(n.accessConfigs) && n.accessConfigs.length > 0);
  if (constraint === 'constraints/compute.vmExternalIpAccess' && !external) return;
  const message = violation(constraint, path);
  throw new ApiError(412, message, {
    error: {
      code: 412,
      message,
      errors: [
        {
          message,
          domain: 'global',
          reason: 'conditionNotMet',
          location: 'If-Match',
          locationType: 'header',
        },
      ],
    },
  });
}

function addInstance(state: EndpointState, group: Json, zoneUrl: string, name: string, ip?: string): void {
  const zonePath = pathOf(state, zoneUrl);
  const instancePath = `${zonePath}/instances/${name}`;
  if (state.orgPolicyRefusal !== undefined) {
    // The group takes the request and fails each creation; only listErrors tells why.
    const errors = Array.isArray(group._errors) ? (group._errors as Json[]) : [];
    group._errors = [
      ...errors,
      {
        timestamp: new Date().toISOString(),
        instanceActionDetails: {
          action: 'CREATING',
          instance: link(state, instancePath),
          version: { instanceTemplate: templateOf(group) },
        },
        error: {
          code: 'CONDITION_NOT_MET',
          message: violation(state.orgPolicyRefusal, instancePath),
        },
      },
    ];
    return;
  }
  const instance: Json = {
    kind: 'compute#instance',
    id: nextId(state),
    name,
    status: 'RUNNING',
    zone: link(state, zonePath),
    selfLink: link(state, instancePath),
    networkInterfaces: [{ name: 'nic0', networkIP: ip ?? `10.20.0.${(state.counter % 200) + 10}` }],
  };
  state.resources.set(instancePath, instance);
  managedInstances(group).push({
    instance: instance.selfLink,
    id: instance.id,
    name,
    instanceStatus: 'RUNNING',
    currentAction: 'NONE',
    version: { instanceTemplate: templateOf(group) },
  });
}

function createGroup(state: EndpointState, p: Parsed, body: Json, path: string): Json {
  const name = String(body.name);
  const group: Json = {
    kind: 'compute#instanceGroupManager',
    id: nextId(state),
    creationTimestamp: new Date().toISOString(),
    ...body,
    fingerprint: 'Zm9v',
    instanceGroup: link(state, `${p.scope}/instanceGroups/${name}`),
    selfLink: link(state, path),
    status: { isStable: true, versionTarget: { isReached: true } },
    currentActions: { none: Number(body.targetSize ?? 0) },
    _instances: [],
  };
  if (!Array.isArray(body.versions))
    group.versions = [{ name: '0', instanceTemplate: body.instanceTemplate }];
  const distribution = isObject(body.distributionPolicy) ? body.distributionPolicy : undefined;
  const zones = Array.isArray(distribution?.zones)
    ? (distribution.zones as Json[]).map((z) => String(z.zone))
    : [link(state, p.scope)];
  const base = String(body.baseInstanceName ?? name);
  for (let i = 0; i < Number(body.targetSize ?? 0); i++) {
    addInstance(state, group, zones[i % zones.length] ?? '', `${base}-${nextId(state).slice(-4)}`);
  }
  return group;
}

/**
 * A forwarding rule whose tier is not its address's: Google refuses it with 400 `invalid`. A rule
 * that names no tier gets the project's default, which the message says.
 */
function tierMismatch(tier: unknown, defaulted: boolean, address: Json): ApiError {
  const which = defaulted
    ? `${String(tier)} network tier (the project's default network tier)`
    : `${String(tier)} network tier`;
  return new ApiError(
    400,
    `Invalid value for field 'resource.networkTier': '${String(tier)}'. ${which} does not match the network tier ${String(address.networkTier)} of the IP address ${String(address.address)}: a forwarding rule and its address must be in the same network tier.`,
  );
}

function insert(state: EndpointState, p: Parsed, body: Json): Json {
  if (typeof body.name !== 'string') throw new ApiError(400, 'Required field name not specified');
  const path = `${p.scope}/${p.collection}/${body.name}`;
  if (state.resources.has(path)) throw new ApiError(409, `The resource '${path}' already exists`);
  if (p.collection === 'instances') refuseInstance(state, path, body);
  let resource: Json = {
    id: nextId(state),
    creationTimestamp: new Date().toISOString(),
    ...body,
    selfLink: link(state, path),
    ...(p.region === undefined ? {} : { region: link(state, p.scope) }),
    ...(p.zone === undefined ? {} : { zone: link(state, p.scope) }),
  };
  if (p.collection === 'addresses') {
    const internal = body.addressType === 'INTERNAL' || body.subnetwork !== undefined;
    resource.address = body.address ?? (internal ? '10.20.0.250' : state.externalAddress);
    resource.status = 'RESERVED';
    if (!internal) resource.networkTier = body.networkTier ?? state.defaultNetworkTier;
  }
  if (p.collection === 'forwardingRules') {
    const external = (body.loadBalancingScheme ?? 'EXTERNAL') === 'EXTERNAL';
    const tier = body.networkTier ?? state.defaultNetworkTier;
    const address =
      typeof body.IPAddress === 'string' ? state.resources.get(pathOf(state, body.IPAddress)) : undefined;
    if (external && address !== undefined && address.networkTier !== tier)
      throw tierMismatch(tier, body.networkTier === undefined, address);
    if (external) resource.networkTier = tier;
    if (address !== undefined) resource.IPAddress = address.address;
  }
  if (p.collection !== undefined && GROUPS.has(p.collection)) resource = createGroup(state, p, body, path);
  state.resources.set(path, resource);
  return operation(state, p, 'insert', path);
}

function patchGroup(group: Json, body: Json): void {
  Object.assign(group, body);
  if (Array.isArray(body.versions)) group.instanceTemplate = templateOf(group);
  for (const managed of managedInstances(group)) {
    managed.version = { instanceTemplate: templateOf(group) };
  }
}

function action(state: EndpointState, p: Parsed, path: string, body: Json): Json {
  const resource = existing(state, path);
  switch (p.action) {
    case 'listManagedInstances':
      return { managedInstances: managedInstances(resource) };
    case 'listErrors':
      return { items: Array.isArray(resource._errors) ? resource._errors : [] };
    case 'listPerInstanceConfigs':
      return { items: Array.isArray(resource._configs) ? resource._configs : [] };
    case 'createInstances': {
      const configs = Array.isArray(body.instances) ? (body.instances as Json[]) : [];
      resource._configs = [...(Array.isArray(resource._configs) ? resource._configs : []), ...configs];
      for (const config of configs) {
        const preserved = isObject(config.preservedState) ? config.preservedState : {};
        const ips = isObject(preserved.internalIPs) ? preserved.internalIPs : {};
        const nic = isObject(ips.nic0) ? ips.nic0 : {};
        const address = isObject(nic.ipAddress) ? nic.ipAddress : {};
        const reserved =
          address.address === undefined ? undefined : state.resources.get(pathOf(state, address.address));
        const ip = typeof reserved?.address === 'string' ? reserved.address : undefined;
        addInstance(state, resource, link(state, p.scope), String(config.name), ip);
      }
      resource.targetSize = managedInstances(resource).length;
      return operation(state, p, 'createInstances', path);
    }
    case 'getHealth': {
      // A group's instance group has the name and place of its manager.
      const managerPath = pathOf(state, body.group).replace('/instanceGroups/', '/instanceGroupManagers/');
      const group = state.resources.get(managerPath);
      if (group === undefined) return {};
      return {
        healthStatus: managedInstances(group).map((m) => ({
          instance: m.instance,
          ipAddress: '10.20.0.10',
          port: 80,
          healthState: state.health,
        })),
        kind: 'compute#backendServiceGroupHealth',
      };
    }
    default:
      throw new ApiError(400, `The stand-in does not serve ${p.action}`);
  }
}

/**
 * Google refuses to delete a health check that a backend service or a group's autohealing still
 * names: 400 `resourceInUseByAnotherResource`, naming the user.
 */
function refuseInUse(state: EndpointState, path: string): void {
  for (const [userPath, user] of state.resources) {
    const healing = Array.isArray(user.autoHealingPolicies) ? (user.autoHealingPolicies as Json[]) : [];
    const named = [
      ...healing.map((h) => h.healthCheck),
      ...(Array.isArray(user.healthChecks) ? (user.healthChecks as unknown[]) : []),
    ];
    if (named.some((link) => pathOf(state, link) === path)) {
      const short = (p: string) => p.replace(/^\/compute\/v1\//, '');
      const message = `The health_check resource '${short(path)}' is already being used by '${short(userPath)}'`;
      throw new ApiError(400, message, {
        error: {
          code: 400,
          message,
          status: 'INVALID_ARGUMENT',
          errors: [{ message, domain: 'global', reason: 'resourceInUseByAnotherResource' }],
        },
      });
    }
  }
}

/** Answers a Compute Engine request, or throws an ApiError. */
export function handleCompute(state: EndpointState, request: RecordedRequest): Json {
  const p = parse(request.path);
  const body = isObject(request.body) ? request.body : {};
  if (p.collection === undefined) {
    // A project, region or zone itself.
    return { kind: 'compute#resource', name: p.scope.split('/').pop(), selfLink: link(state, p.scope) };
  }
  if (p.scope.endsWith('/aggregated')) {
    // An aggregated list: every scope's resources of the collection, by scope.
    const items: Json = {};
    const suffix = `/${p.collection}/`;
    for (const [path, value] of state.resources) {
      const at = path.indexOf(suffix);
      if (at === -1 || path.slice(at + suffix.length).includes('/')) continue;
      // compute, v1, projects, P, then `global` or `regions/R` / `zones/Z`.
      const parts = path.split('/').filter((part) => part !== '');
      const key = parts[4] === 'global' ? 'global' : `${parts[4]}/${parts[5]}`;
      const bucket = (items[key] ?? { [p.collection]: [] }) as Json;
      (bucket[p.collection] as Json[]).push(view(value));
      items[key] = bucket;
    }
    return { kind: 'compute#aggregatedList', items };
  }
  const collectionPath = `${p.scope}/${p.collection}`;
  const path = p.name === undefined ? collectionPath : `${collectionPath}/${p.name}`;
  if (p.collection === 'operations' && p.name !== undefined) return pollOperation(existing(state, path));
  if (p.action !== undefined) return action(state, p, path, body);
  switch (request.method) {
    case 'GET':
      if (p.name !== undefined) return view(existing(state, path));
      return { kind: 'compute#list', items: listUnder(state, collectionPath).map(view) };
    case 'POST':
      if (p.name !== undefined) throw notFound(path);
      return insert(state, p, body);
    case 'PATCH':
    case 'PUT': {
      const resource = existing(state, path);
      if (p.collection !== undefined && GROUPS.has(p.collection)) patchGroup(resource, body);
      else if (request.method === 'PUT') state.resources.set(path, { ...body, selfLink: resource.selfLink });
      else Object.assign(resource, body);
      return operation(state, p, request.method === 'PUT' ? 'update' : 'patch', path);
    }
    case 'DELETE': {
      const resource = existing(state, path);
      if (p.collection === 'healthChecks') refuseInUse(state, path);
      for (const managed of managedInstances(resource))
        state.resources.delete(pathOf(state, managed.instance));
      state.resources.delete(path);
      return operation(state, p, 'delete', path);
    }
    default:
      throw new ApiError(400, `Method ${request.method} is not served`);
  }
}
