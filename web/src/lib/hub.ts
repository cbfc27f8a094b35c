import { currentToken, onToken, refreshSession } from './api';

export type HubState = 'connecting' | 'online' | 'offline';

/** An `error` frame the server answered a request with. */
export class HubError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (frame: { event: string; data: any }) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const REQUEST_TIMEOUT_MS = 15_000;
const MAX_BACKOFF_MS = 15_000;
/** The server closes with 1008 when the session was revoked or the token expired. */
const POLICY_VIOLATION = 1008;

/**
 * The native `/ws` hub (docs/protocol.md): JSON frames `{event, data, id}`, authentication by a first
 * `authenticate` frame, replies carrying the request's `id`. Reconnects by itself with exponential
 * backoff and jitter; `onReady` runs after every (re)authentication so callers resume with `since`.
 */
export class Hub {
  state: HubState = 'offline';
  private socket: WebSocket | undefined;
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(data: any) => void>>();
  private readonly stateListeners = new Set<(state: HubState) => void>();
  private readonly readyListeners = new Set<() => void>();
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private stopped = true;
  private readonly unsubscribeToken: () => void;

  constructor(
    private readonly url: string,
    private readonly onSignedOut: () => void,
  ) {
    this.unsubscribeToken = onToken((token) => {
      // A refreshed token extends this connection before the old one expires.
      if (token && this.state === 'online') this.send('authenticate', { token }).catch(() => undefined);
    });
    window.addEventListener('online', this.wake);
    window.addEventListener('offline', this.dropped);
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.unsubscribeToken();
    window.removeEventListener('online', this.wake);
    window.removeEventListener('offline', this.dropped);
    this.socket?.close(1000, 'signed out');
    this.setState('offline');
  }

  on(event: string, listener: (data: any) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  onState(listener: (state: HubState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  /** Sends a request and resolves with the reply frame; rejects with HubError on an `error` reply. */
  send(event: string, data: unknown): Promise<{ event: string; data: any }> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.reject(new HubError('OFFLINE', 'Not connected'));
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HubError('TIMEOUT', 'The server did not answer'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      socket.send(JSON.stringify({ event, data, id }));
    });
  }

  /** Fire-and-forget frames (typing): dropped while offline. */
  notify(event: string, data: unknown): void {
    if (this.state === 'online') this.socket?.send(JSON.stringify({ event, data }));
  }

  private readonly wake = () => {
    if (this.stopped || this.state !== 'offline') return;
    clearTimeout(this.retryTimer);
    this.attempts = 0;
    this.connect();
  };

  private readonly dropped = () => {
    // The browser knows the network is gone before TCP does: fail fast and show it.
    this.socket?.close(4000, 'browser offline');
  };

  private connect(): void {
    this.setState('connecting');
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = socket;
    socket.onopen = async () => {
      let token = currentToken();
      if (!token && !(await refreshSession())) return this.signedOut();
      token = currentToken()!;
      try {
        await this.send('authenticate', { token });
      } catch (error) {
        if (error instanceof HubError && error.code === 'UNAUTHORIZED' && !(await refreshSession())) return this.signedOut();
        socket.close();
        return;
      }
      this.attempts = 0;
      this.setState('online');
      for (const listener of this.readyListeners) listener();
    };
    socket.onmessage = (message) => {
      let frame: { event: string; data: any; id?: string };
      try {
        frame = JSON.parse(String(message.data));
      } catch {
        return;
      }
      const waiting = frame.id === undefined ? undefined : this.pending.get(String(frame.id));
      if (waiting) {
        this.pending.delete(String(frame.id));
        clearTimeout(waiting.timer);
        if (frame.event === 'error') waiting.reject(new HubError(frame.data?.code ?? 'ERROR', frame.data?.message ?? 'Request failed'));
        else waiting.resolve(frame);
        return;
      }
      for (const listener of this.listeners.get(frame.event) ?? []) listener(frame.data);
    };
    socket.onclose = async (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      for (const [id, waiting] of this.pending) {
        clearTimeout(waiting.timer);
        waiting.reject(new HubError('OFFLINE', 'Connection lost'));
        this.pending.delete(id);
      }
      this.setState('offline');
      if (this.stopped) return;
      if (event.code === POLICY_VIOLATION && !(await refreshSession())) return this.signedOut();
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    this.setState('offline');
    if (this.stopped || !navigator.onLine) return;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempts) * (0.75 + Math.random() / 2);
    this.attempts += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private signedOut(): void {
    this.stop();
    this.onSignedOut();
  }

  private setState(state: HubState): void {
    if (this.state === state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }
}
