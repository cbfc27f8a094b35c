import type { MongoClient } from 'mongodb';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChatdMiddleware } from '../http/context.js';
import type { HubMetrics } from '../realtime/types.js';

/**
 * What `chatd serve` measures, in the Prometheus format. One instance per server (never
 * prom-client's global registry), fed by small hooks in the transports and services and, for
 * values that already exist elsewhere (connection count, queue depth, last backup), read when
 * Prometheus scrapes. templates/grafana-dashboard.json charts these names.
 */
export class ChatdMetrics implements HubMetrics {
  readonly registry = new Registry();

  private readonly httpDuration = new Histogram({
    name: 'chatd_http_request_duration_seconds',
    help: 'REST requests by method, route pattern and status, with their latency (its _count is the number of requests)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly hubEventsReceived = new Counter({
    name: 'chatd_hub_events_received_total',
    help: 'Hub events received from clients, by event name ("unknown" for names the hub does not know)',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  private readonly hubEventsSent = new Counter({
    name: 'chatd_hub_events_sent_total',
    help: 'Hub events sent, by event name: one per frame serialised, however many sockets get it',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  private readonly hubDeliveries = new Counter({
    name: 'chatd_hub_deliveries_total',
    help: 'Frames written to sockets, by event name: a room event counts once per subscribed connection',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });

  private readonly messageStore = new Histogram({
    name: 'chatd_message_store_duration_seconds',
    help: 'From a send being accepted to the message being durably stored (what the sender waits for before message_sent)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  private readonly dbDuration = new Histogram({
    name: 'chatd_db_command_duration_seconds',
    help: 'Database commands by name (the driver\'s command monitoring), with their latency',
    labelNames: ['command'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  private readonly dbErrors = new Counter({
    name: 'chatd_db_command_errors_total',
    help: 'Database commands that failed, by name',
    labelNames: ['command'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Koa middleware timing every request; the route is the router's pattern, so ids do not explode the label set. */
  http(): ChatdMiddleware {
    return async (ctx, next) => {
      const end = this.httpDuration.startTimer();
      try {
        await next();
      } finally {
        const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute;
        end({ method: ctx.method, route: typeof route === 'string' ? route : 'unmatched', status: String(ctx.status) });
      }
    };
  }

  received(event: string): void {
    this.hubEventsReceived.inc({ event });
  }

  sent(event: string, deliveries: number): void {
    this.hubEventsSent.inc({ event });
    if (deliveries > 0) this.hubDeliveries.inc({ event }, deliveries);
  }

  messageStored(seconds: number): void {
    this.messageStore.observe(seconds);
  }

  /** Times every command of this client; the client must be created with `monitorCommands: true`. */
  observeDatabase(client: MongoClient): void {
    client.on('commandSucceeded', (event) => this.dbDuration.observe({ command: event.commandName }, event.duration / 1000));
    client.on('commandFailed', (event) => {
      this.dbDuration.observe({ command: event.commandName }, event.duration / 1000);
      this.dbErrors.inc({ command: event.commandName });
    });
  }

  /** A value read when Prometheus scrapes (a gauge that mirrors state kept elsewhere). */
  gauge(name: string, help: string, read: () => number | undefined | Promise<number | undefined>): void {
    // undefined (nothing to report yet) reads as 0
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set((await read()) ?? 0);
      },
    });
  }

  /** A monotonic total kept elsewhere (it only grows), read when Prometheus scrapes. */
  total(name: string, help: string, read: () => number): void {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const value = read();
        if (value > reported) this.inc(value - reported);
        reported = value;
      },
    });
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
