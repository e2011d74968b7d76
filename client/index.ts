/**
 * wsfleet/client: the client of a wsfleet cluster for browsers and Node ≥ 20, with no runtime
 * dependency. README "The client" is its guide and reference.
 */

export { connect, WsfleetClient } from './client.ts';
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
export type {
  ClientEvents,
  Connected,
  ConnectionState,
  ConnectOptions,
  SubscribeOptions,
  WebSocketConstructor,
  WebSocketLike,
} from './types.ts';
