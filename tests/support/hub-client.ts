import WebSocket from 'ws';

export interface Frame {
  event: string;
  data: any;
  id?: string | number;
}

export interface ConnectOptions {
  token?: string;
  cookie?: string;
  origin?: string;
  headers?: Record<string, string>;
}

/**
 * A real WebSocket client that speaks the hub protocol: requests with ids, waiting for events,
 * and a record of every frame received.
 */
export class HubClient {
  readonly frames: Frame[] = [];
  private waiters: { match: (frame: Frame) => boolean; resolve: (frame: Frame) => void; reject: (error: Error) => void }[] = [];
  private counter = 0;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as Frame;
      this.frames.push(frame);
      const index = this.waiters.findIndex((waiter) => waiter.match(frame));
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(frame);
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        resolve({ code, reason: String(reason) });
        // Nothing more will arrive: say so now rather than when each wait times out.
        for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`connection closed (${code} ${String(reason)})`));
      }),
    );
  }

  /**
   * Opens a connection. With a token or cookie it resolves once the hub confirmed it with
   * `authenticated`; a refused token rejects with the hub's error frame and close code.
   */
  static async connect(url: string, options: ConnectOptions = {}): Promise<HubClient> {
    const client = await HubClient.open(url, options);
    if (!options.token && !options.cookie) return client;
    const answered = (frame: Frame) => frame.event === 'authenticated' || frame.event === 'error';
    try {
      // The answer may have arrived with the upgrade, before this continuation ran.
      if (!client.frames.some(answered)) await client.waitFor(answered, 10_000, 'authenticated');
    } catch {
      // Closed before it was confirmed; `closed` has the code.
    }
    if (client.received('authenticated').length > 0) return client;
    const close = await Promise.race([client.closed, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000))]);
    throw Object.assign(new Error(`token refused: ${JSON.stringify(client.received('error')[0]?.data)}`), { error: client.received('error')[0], close });
  }

  private static open(url: string, options: ConnectOptions): Promise<HubClient> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    if (options.cookie) headers.Cookie = options.cookie;
    const socket = new WebSocket(url, { headers, origin: options.origin });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new HubClient(socket)));
      socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused with ${res.statusCode}: ${body}`), { statusCode: res.statusCode, retryAfter: res.headers['retry-after'], body })));
        res.on('error', () => reject(Object.assign(new Error(`upgrade refused with ${res.statusCode}`), { statusCode: res.statusCode })));
      });
      socket.once('error', reject);
    });
  }

  /**
   * Connects with a token on the upgrade that the hub refuses: the upgrade succeeds, the token is
   * checked after it, and the hub answers with an `error` frame and closes with 1008.
   */
  static async refused(url: string, options: ConnectOptions): Promise<{ error: Frame; close: { code: number; reason: string } }> {
    try {
      await HubClient.connect(url, options);
    } catch (error) {
      const { error: frame, close } = error as { error?: Frame; close?: { code: number; reason: string } };
      if (frame && close) return { error: frame, close };
      throw error;
    }
    throw new Error('the token was accepted');
  }

  /** Connects and authenticates with the first-frame method. */
  static async authenticated(url: string, token: string): Promise<HubClient> {
    const client = await HubClient.connect(url);
    const reply = await client.request('authenticate', { token });
    if (reply.event !== 'authenticated') throw new Error(`authenticate failed: ${JSON.stringify(reply.data)}`);
    return client;
  }

  send(event: string, data?: unknown, id?: string | number): void {
    this.socket.send(JSON.stringify(id === undefined ? { event, data } : { event, data, id }));
  }

  sendRaw(payload: string | Buffer): void {
    this.socket.send(payload);
  }

  /** Sends with a fresh id and resolves with the reply carrying it (which may be an `error` frame). */
  request(event: string, data?: unknown, timeoutMs = 10_000): Promise<Frame> {
    const id = `r${++this.counter}`;
    const reply = this.waitFor((frame) => frame.id === id, timeoutMs, `reply to ${event}`);
    this.send(event, data, id);
    return reply;
  }

  /** The next frame named `event` that passes `predicate`, arriving from now on (see `received` for the past). */
  next(event: string, predicate: (data: any) => boolean = () => true, timeoutMs = 10_000): Promise<Frame> {
    return this.waitFor((frame) => frame.event === event && predicate(frame.data), timeoutMs, event);
  }

  /** Waits for a frame that has not been seen yet. */
  waitFor(match: (frame: Frame) => boolean, timeoutMs: number, what: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.resolve !== done);
        reject(new Error(`timed out waiting for ${what}; received: ${JSON.stringify(this.frames.slice(-10))}`));
      }, timeoutMs);
      const done = (frame: Frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
      const closed = (error: Error) => {
        clearTimeout(timer);
        reject(new Error(`${error.message} while waiting for ${what}; received: ${JSON.stringify(this.frames.slice(-10))}`));
      };
      if (this.socket.readyState === WebSocket.CLOSED) closed(new Error('connection closed'));
      else this.waiters.push({ match, resolve: done, reject: closed });
    });
  }

  /** Frames named `event` received so far. */
  received(event: string): Frame[] {
    return this.frames.filter((frame) => frame.event === event);
  }

  /** Lets in-flight frames arrive, for assertions that something did NOT happen. */
  async settle(ms = 300): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await this.closed;
  }
}
