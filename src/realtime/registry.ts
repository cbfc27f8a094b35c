import { RateLimited } from '../errors.js';
import type { RealtimePublisher } from './publisher.js';
import type { Connection, HubMetrics, RoomBroadcaster } from './types.js';

/** How a transport fans one event out to a topic's subscribers on its own sockets. */
export interface TopicPublisher {
  publish(topic: string, event: string, data: unknown, except: Connection | undefined): void;
  /** How many of its sockets subscribe to `topic` (asked only when metrics are on). */
  subscribers(topic: string): number;
}

export interface RegistryLimits {
  /** Open connections one user may hold (devices, tabs). */
  connectionsPerUser: number;
  /** Open connections, authenticated or not, from one client address. */
  connectionsPerAddress: number;
}

/** A user's open connections: the connection itself while there is one (most users), an array beyond. */
type UserConnections = Connection | Connection[];

/**
 * Who is connected, over any transport: users → connections, addresses → counts, and fan-out to
 * rooms and users. Room membership of a connection lives in its transport's pub/sub (uWS topics),
 * so it is not kept twice; the registry only asks every transport to publish.
 */
export class ConnectionRegistry implements RealtimePublisher, RoomBroadcaster {
  private readonly connections = new Set<Connection>();
  private readonly byUser = new Map<string, UserConnections>();
  private readonly byAddress = new Map<string, number>();
  private readonly transports: TopicPublisher[] = [];
  /** Events for the end of this event-loop turn, per connection (see `sendToUsers`). */
  private outbox = new Map<Connection, [string, unknown][]>();
  private outboxFlush: NodeJS.Immediate | undefined;

  constructor(private readonly limits: RegistryLimits, private readonly metrics?: HubMetrics) {}

  addTransport(transport: TopicPublisher): void {
    this.transports.push(transport);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Refuses a new connection from an address that already holds its share. */
  admit(ip: string): void {
    if ((this.byAddress.get(ip) ?? 0) >= this.limits.connectionsPerAddress) {
      throw new RateLimited(10, `Too many connections from your address (at most ${this.limits.connectionsPerAddress}, set by WS_CONNECTIONS_PER_ADDRESS); try again in 10 seconds`, 'WS_CONNECTIONS_PER_ADDRESS');
    }
  }

  /** Counts an opened connection against its address; `admit` was asked first. */
  opened(conn: Connection): void {
    this.connections.add(conn);
    this.byAddress.set(conn.ip, (this.byAddress.get(conn.ip) ?? 0) + 1);
  }

  /** Refuses one more connection of a user who holds their share. */
  admitUser(userId: string): void {
    const existing = this.byUser.get(userId);
    const count = existing === undefined ? 0 : Array.isArray(existing) ? existing.length : 1;
    if (count >= this.limits.connectionsPerUser) {
      throw new RateLimited(10, `Too many open connections for this account (at most ${this.limits.connectionsPerUser}, set by WS_CONNECTIONS_PER_USER); close another tab or device, or try again in 10 seconds`, 'WS_CONNECTIONS_PER_USER');
    }
  }

  /** Binds an authenticated connection to its user; `admitUser` was asked first. */
  bindUser(conn: Connection): void {
    const userId = conn.principal!.userId;
    const existing = this.byUser.get(userId);
    if (existing === undefined) this.byUser.set(userId, conn);
    else if (Array.isArray(existing)) existing.push(conn);
    else this.byUser.set(userId, [existing, conn]);
  }

  closed(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    const left = (this.byAddress.get(conn.ip) ?? 1) - 1;
    if (left > 0) this.byAddress.set(conn.ip, left);
    else this.byAddress.delete(conn.ip);
    const userId = conn.principal?.userId;
    if (userId === undefined) return;
    const existing = this.byUser.get(userId);
    if (existing === conn) {
      this.byUser.delete(userId);
    } else if (Array.isArray(existing)) {
      const index = existing.indexOf(conn);
      if (index >= 0) existing.splice(index, 1);
      if (existing.length === 1) this.byUser.set(userId, existing[0]!);
    }
  }

  /** Sends one event to every subscriber of `topic` on every transport. */
  publish(topic: string, event: string, data: unknown, except?: Connection): void {
    for (const transport of this.transports) transport.publish(topic, event, data, except);
    if (this.metrics) {
      let deliveries = except ? -1 : 0;
      for (const transport of this.transports) deliveries += transport.subscribers(topic);
      this.metrics.sent(event, Math.max(0, deliveries));
    }
  }

  /**
   * Sends an event to every connection of a user. Sent directly rather than through a per-user
   * topic: a topic and its subscriber record cost every idle connection native memory, for what
   * is a loop over one or two sockets.
   */
  sendToUser(userId: string, event: string, data: unknown): void {
    const connections = this.connectionsOf(userId);
    for (const conn of connections) conn.push(event, data);
    this.metrics?.sent(event, connections.length);
  }

  sendToUsers(userIds: Iterable<string>, event: string, data: unknown): void {
    let deliveries = 0;
    for (const userId of userIds) {
      for (const conn of this.connectionsOf(userId)) {
        deliveries += 1;
        const queued = this.outbox.get(conn);
        if (queued) queued.push([event, data]);
        else this.outbox.set(conn, [[event, data]]);
      }
    }
    this.outboxFlush ??= setImmediate(() => this.flushOutbox());
    this.metrics?.sent(event, deliveries);
  }

  /**
   * Writes what `sendToUsers` queued, one write per connection. When a thousand members of a room
   * come online together each is told of the other 999: queued, that is one write per member and
   * turn instead of one per event.
   */
  private flushOutbox(): void {
    const outbox = this.outbox;
    this.outbox = new Map();
    this.outboxFlush = undefined;
    for (const [conn, events] of outbox) {
      if (!conn.closed) conn.pushMany(events);
    }
  }

  /** Open connections of a user (each device has its own). */
  connectionsOf(userId: string): readonly Connection[] {
    const existing = this.byUser.get(userId);
    if (existing === undefined) return [];
    return Array.isArray(existing) ? existing : [existing];
  }

  connectionIds(userId: string): number[] {
    return this.connectionsOf(userId).map((conn) => conn.connId);
  }

  sendToConnection(userId: string, connId: number, event: string, data: unknown): boolean {
    for (const conn of this.connectionsOf(userId)) {
      if (conn.connId !== connId) continue;
      if (conn.closed) return false;
      conn.push(event, data);
      return true;
    }
    return false;
  }

  isOnline(userId: string): boolean {
    return this.byUser.has(userId);
  }

  unsubscribeUser(userId: string, topic: string): void {
    for (const conn of this.connectionsOf(userId)) if (!conn.closed) conn.unsubscribe(topic);
  }

  /** Closes the connections matching `predicate`, e.g. those of a disabled user or a revoked token. */
  disconnect(predicate: (conn: Connection) => boolean, code: number, reason: string): number {
    let closed = 0;
    for (const conn of [...this.connections]) {
      if (!conn.closed && predicate(conn)) {
        conn.end(code, reason);
        closed += 1;
      }
    }
    return closed;
  }

  /** Every open connection, for shutdown. */
  all(): Connection[] {
    return [...this.connections];
  }
}
