/**
 * google.longrunning.Operation in the stand-in, as Memorystore for Redis v1 and Service Usage v1
 * answer it: the create (or enable) returns `{name, metadata}` without `done` while the work goes
 * on, each `operations.get` of it uses one of `operationPolls` polls, and the last one answers
 * `done: true` with `response` — when the work takes effect (the instance turns READY, the
 * services are enabled). gcloud polls (Service Usage: every 2 s and more, for up to 30 min;
 * Redis: its waiter's schedule). Delays are counted in polls, not time, so a test behaves alike
 * on a loaded machine.
 */
import { type EndpointState, existing, type Json } from './gcloud-endpoint-model.ts';

/** What an operation does once done (kept beside it, never answered). */
const effects = new WeakMap<Json, () => void>();

/** Starts an operation stored at `path`; `effect` runs when it is done (at once without polls). */
export function startOperation(
  state: EndpointState,
  path: string,
  op: { name: string; metadata: Json; response: Json },
  effect: () => void = () => {},
): Json {
  const stored: Json = { ...op, _polls: state.operationPolls };
  effects.set(stored, effect);
  state.resources.set(path, stored);
  if (state.operationPolls <= 0) finish(stored);
  return view(stored);
}

function finish(op: Json): void {
  if (op._done === true) return;
  op._done = true;
  effects.get(op)?.();
}

function view(op: Json): Json {
  const { name, metadata, response } = op;
  // A running operation has no `done` field (false is its default in the proto's JSON).
  return op._done === true ? { name, metadata, done: true, response } : { name, metadata };
}

/** operations.get: one poll used; done once none are left. */
export function pollOperation(state: EndpointState, path: string): Json {
  const op = existing(state, path);
  const left = Number(op._polls ?? 0);
  if (left <= 1) finish(op);
  else op._polls = left - 1;
  return view(op);
}
