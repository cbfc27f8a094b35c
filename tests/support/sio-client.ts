import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';

export interface SioEvent {
  event: string;
  data: any;
}

/**
 * socket.io-client 4 (the real client library) with a record of every event received and
 * waits for the next one, the way HubClient does for the native protocol.
 */
export class SioClient {
  readonly events: SioEvent[] = [];
  private waiters: { match: (event: SioEvent) => boolean; resolve: (event: SioEvent) => void }[] = [];

  private constructor(readonly socket: Socket) {
    socket.onAny((event: string, data: unknown) => {
      const received = { event, data };
      this.events.push(received);
      const index = this.waiters.findIndex((waiter) => waiter.match(received));
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(received);
    });
  }

  /** Connects like the spec's clients: `io(url, options)`; rejects with the connect_error. */
  static connect(url: string, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<SioClient> {
    const socket = io(url, { reconnection: false, forceNew: true, timeout: 10_000, ...options });
    const client = new SioClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(client));
      socket.once('connect_error', (error: Error & { data?: unknown }) => {
        socket.close();
        reject(error);
      });
    });
  }

  /** The connect_error a refused handshake gets. */
  static async refusal(url: string, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<Error & { data?: any }> {
    try {
      const client = await SioClient.connect(url, options);
      client.close();
    } catch (error) {
      return error as Error & { data?: any };
    }
    throw new Error('the handshake was accepted');
  }

  emit(event: string, ...args: unknown[]): void {
    this.socket.emit(event, ...args);
  }

  /** Emits with an acknowledgement callback and resolves with what the server acknowledged. */
  request(event: string, data?: unknown, timeoutMs = 10_000): Promise<any> {
    return this.socket.timeout(timeoutMs).emitWithAck(event, data);
  }

  /** The next event named `event` that passes `predicate`, arriving from now on. */
  next(event: string, predicate: (data: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done);
        reject(new Error(`timed out waiting for ${event}; received: ${JSON.stringify(this.events.slice(-10)).slice(0, 2000)}`));
      }, timeoutMs);
      const done = (received: SioEvent) => {
        clearTimeout(timer);
        resolve(received.data);
      };
      this.waiters.push({ match: (received) => received.event === event && predicate(received.data), resolve: done });
    });
  }

  /** The first event named `event` passing `predicate`, already received or still to come. */
  arrival(event: string, predicate: (data: any) => boolean = () => true, timeoutMs?: number): Promise<any> {
    const seen = this.events.find((received) => received.event === event && predicate(received.data));
    return seen ? Promise.resolve(seen.data) : this.next(event, predicate, timeoutMs);
  }

  received(event: string): any[] {
    return this.events.filter((received) => received.event === event).map((received) => received.data);
  }

  /** Resolves when the server disconnects this client, with Socket.IO's reason. */
  disconnected(): Promise<string> {
    if (!this.socket.connected) return Promise.resolve('already disconnected');
    return new Promise((resolve) => this.socket.once('disconnect', (reason) => resolve(reason)));
  }

  async settle(ms = 300): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  close(): void {
    this.socket.close();
  }
}
