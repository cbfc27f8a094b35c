import { createServer, type Server } from 'node:http';
import type { ChatdMetrics } from './registry.js';

export interface MetricsEndpoint {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics on its own port, away from the public REST and hub ports: reachable only
 * where METRICS_HOST listens (this machine by default), so it needs no token of its own.
 */
export function listenMetrics(metrics: ChatdMetrics, host: string, port: number): Promise<MetricsEndpoint> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('chatd metrics live at GET /metrics\n');
      return;
    }
    metrics.scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(body),
      (error: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`could not collect metrics: ${(error as Error).message}\n`),
    );
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new Error(`METRICS_PORT ${port} is already in use on ${host}`) : error);
    });
    server.listen(port, host, () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
