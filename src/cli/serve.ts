import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { startServer } from '../server.js';
import { configFor, type GlobalOptions } from './context.js';
import { CliError } from './errors.js';

interface ServeOptions extends GlobalOptions {
  migrate: boolean;
  port?: string;
  wsPort?: string;
  host?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the REST API and the WebSocket hub (starts the embedded database when MONGODB_URI is empty)')
    .option('--no-migrate', 'do not apply pending migrations at start')
    .option('--port <port>', 'REST API port (the same as PORT=<port>)')
    .option('--ws-port <port>', 'WebSocket hub port (the same as WS_PORT=<port>)')
    .option('--host <address>', 'listen address (the same as HOST=<address>)')
    .action(async (options: ServeOptions, command: Command) => {
      const config = configFor({ ...command.optsWithGlobals<GlobalOptions>(), ...options }, { PORT: options.port, WS_PORT: options.wsPort, HOST: options.host });
      const logger = createLogger({ level: config.LOG_LEVEL });
      let server;
      try {
        server = await startServer({ config, logger, migrate: options.migrate });
      } catch (error) {
        logger.flush();
        throw new CliError(`could not start: ${(error as Error).message}`);
      }
      const running = server;
      await new Promise<void>((resolve) => {
        let signalled = false;
        const onSignal = (signal: NodeJS.Signals) => {
          if (signalled) {
            logger.warn({ signal }, 'second signal: exiting at once');
            running.kill();
            process.exit(1);
          }
          signalled = true;
          logger.info({ signal }, 'received signal');
          const hardStop = setTimeout(() => {
            logger.error('graceful shutdown took too long; exiting');
            running.kill();
            process.exit(1);
          }, config.SHUTDOWN_TIMEOUT_SECONDS * 1000);
          hardStop.unref();
          running.stop().then(resolve, (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            running.kill();
            process.exit(1);
          });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      logger.flush();
      // uWS keeps no handle after closing, but the driver and timers may; the work is done.
      process.exit(0);
    });
}
