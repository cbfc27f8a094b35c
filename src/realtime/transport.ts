import type { TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../logger.js';
import type { ClientAddress } from './address.js';
import type { Dispatcher } from './dispatcher.js';
import type { ConnectionRegistry } from './registry.js';

/** What every transport on the hub's uWS app is given: the shared parts and the shared rules. */
export interface TransportOptions {
  app: TemplatedApp;
  dispatcher: Dispatcher;
  registry: ConnectionRegistry;
  address: ClientAddress;
  logger: Logger;
  allowedOrigins: Set<string>;
  maxFrameBytes: number;
  nextConnId(): number;
}
