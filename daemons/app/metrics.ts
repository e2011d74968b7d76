/** The app daemon's Prometheus series (README lists them). */
import { Counter, createRegistry, Gauge, type Registry } from '../shared/metrics.ts';

export interface AppMetrics {
  readonly registry: Registry;
  readonly connections: Gauge;
  readonly accepted: Counter;
  readonly rejected: Counter<'reason'>;
  readonly disconnects: Counter<'reason'>;
  readonly framesReceived: Counter;
  readonly protocolErrors: Counter<'code'>;
  readonly published: Counter<'source'>;
  /** Publishes answered from the idempotency window: not publications of their own. */
  readonly deduplicated: Counter<'source'>;
  readonly publishFailures: Counter<'source'>;
  readonly delivered: Counter;
  readonly channels: Gauge;
  readonly brokerUp: Gauge;
  readonly recoveries: Counter<'result'>;
  readonly handlerErrors: Counter<'where'>;
}

export function createAppMetrics(): AppMetrics {
  const registry = createRegistry();
  const registers = [registry];
  return {
    registry,
    connections: new Gauge({
      name: 'wsfleet_app_connections',
      help: 'Open WebSocket connections',
      registers,
    }),
    accepted: new Counter({
      name: 'wsfleet_app_connections_accepted_total',
      help: 'WebSocket upgrades accepted',
      registers,
    }),
    rejected: new Counter({
      name: 'wsfleet_app_upgrades_rejected_total',
      help: 'WebSocket upgrades refused, by reason',
      labelNames: ['reason'],
      registers,
    }),
    disconnects: new Counter({
      name: 'wsfleet_app_disconnects_total',
      help: 'Connections closed, by reason',
      labelNames: ['reason'],
      registers,
    }),
    framesReceived: new Counter({
      name: 'wsfleet_app_frames_received_total',
      help: 'Client frames received',
      registers,
    }),
    protocolErrors: new Counter({
      name: 'wsfleet_app_protocol_errors_total',
      help: 'Error frames sent to clients, by code',
      labelNames: ['code'],
      registers,
    }),
    published: new Counter({
      name: 'wsfleet_app_publications_total',
      help: 'Publications made durable, by source (ws or api)',
      labelNames: ['source'],
      registers,
    }),
    deduplicated: new Counter({
      name: 'wsfleet_app_publications_deduplicated_total',
      help: 'Publishes retried with an idempotency key seen within its window, answered with the first position and not published again, by source',
      labelNames: ['source'],
      registers,
    }),
    publishFailures: new Counter({
      name: 'wsfleet_app_publish_failures_total',
      help: 'Publications that could not be made durable and were reported as errors',
      labelNames: ['source'],
      registers,
    }),
    delivered: new Counter({
      name: 'wsfleet_app_messages_delivered_total',
      help: 'Message frames queued to clients',
      registers,
    }),
    channels: new Gauge({
      name: 'wsfleet_app_channels',
      help: 'Channels with subscribers on this node',
      registers,
    }),
    brokerUp: new Gauge({
      name: 'wsfleet_app_broker_up',
      help: '1 when the broker (Redis) is reachable',
      registers,
    }),
    recoveries: new Counter({
      name: 'wsfleet_app_history_recoveries_total',
      help: 'Subscriptions that asked to resume from an offset, by result',
      labelNames: ['result'],
      registers,
    }),
    handlerErrors: new Counter({
      name: 'wsfleet_app_handler_errors_total',
      help: 'Requests and connections ended because a handler of this node failed, by where',
      labelNames: ['where'],
      registers,
    }),
  };
}
