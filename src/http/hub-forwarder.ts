import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from '../logger.js';
import { FORWARDED_CLIENT_HEADER, FORWARDED_PROOF_HEADER } from '../realtime/address.js';

export interface HubForwarderOptions {
  /** Where the hub listens, as seen from this process. */
  hubHost: string;
  hubPort: number;
  /** The hub's proof that a request came through this forwarder (see ClientAddress). */
  proof: string;
  trustProxy: boolean;
  logger: Logger;
}

/** Paths the REST port hands to the hub: Socket.IO (polling and upgrades) and the native /ws. */
function forHub(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith('/socket.io/') || url === '/ws' || url.startsWith('/ws?'));
}

/** The hub's address for a wildcard listen address: the loopback of the same family. */
export function hubHostFor(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/**
 * Lets a client that knows only the REST base URL reach the hub, as the spec's clients do
 * (`io("http://host:PORT")`): the REST port forwards `/socket.io/` (long-polling requests and
 * WebSocket upgrades) and `/ws` to the hub on WS_PORT. The client's address goes along, with a
 * proof the hub checks, so its per-address limits count clients and not this forwarder.
 */
export function attachHubForwarder(server: Server, rest: RequestListener, options: HubForwarderOptions): void {
  const log = options.logger.child({ component: 'hub-forwarder' });
  const proxy = createProxyServer({ target: { host: options.hubHost, port: options.hubPort }, ws: true, xfwd: false });

  // The address Koa reports for the same request (see createHttpApp).
  const clientAddress = (req: IncomingMessage): string => {
    if (options.trustProxy) {
      const last = String(req.headers['x-forwarded-for'] ?? '').split(',').pop()?.trim();
      if (last) return last;
    }
    return req.socket.remoteAddress ?? '';
  };
  const stamp = (req: IncomingMessage) => {
    req.headers[FORWARDED_PROOF_HEADER] = options.proof;
    req.headers[FORWARDED_CLIENT_HEADER] = clientAddress(req);
  };

  proxy.on('error', (error, _req, res) => {
    log.warn({ err: error }, 'could not reach the hub');
    if (res && 'writeHead' in res) {
      const response = res as ServerResponse;
      if (!response.headersSent) response.writeHead(502, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ success: false, error: { code: 'UNAVAILABLE', message: 'The realtime hub is not reachable' } }));
    } else {
      (res as Duplex | undefined)?.destroy();
    }
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!forHub(req.url)) {
      rest(req, res);
      return;
    }
    stamp(req);
    proxy.web(req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!forHub(req.url)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    stamp(req);
    proxy.ws(req, socket, head);
  });
}
