/**
 * wsfleet/client: the client of a wsfleet cluster for browsers and Node ≥ 20, with no runtime
 * dependency. README "Client" is its guide and reference.
 */

export {
  type ClientEvents,
  type Connected,
  type ConnectionState,
  type ConnectOptions,
  connect,
  type SubscribeOptions,
  type WebSocketConstructor,
  type WebSocketLike,
  WsfleetClient,
} from './client.ts';
export type { Clock } from './clock.ts';
export { CLIENT_ERRORS, type ClientErrorCode, WsfleetError } from './errors.ts';
export type { Feature, ServerErrorCode } from './frames.ts';
export type { PageSignals } from './page.ts';
export type { PublishOptions, PublishResult } from './publisher.ts';
export { DEFAULT_RECONNECT, type ReconnectPolicy } from './reconnect.ts';
export type {
  Message,
  Missed,
  Position,
  Subscription,
  SubscriptionEvents,
  SubscriptionState,
} from './subscription.ts';
