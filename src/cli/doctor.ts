import type { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import { runDoctor } from '../ops/doctor.js';
import { commandLogger, configFor, type GlobalOptions } from './context.js';
import { CliError } from './errors.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check configuration, database, ports, the WebSocket engine and the data directory')
    .action(async (_options: unknown, cmd: Command) => {
      let config;
      try {
        config = configFor(cmd.optsWithGlobals<GlobalOptions>());
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const problem of error.problems) console.log(`FAIL configuration: ${problem.variable}: ${problem.message}`);
        throw new CliError('configuration is invalid; fix the lines above', undefined, 2);
      }
      console.log(`ok   configuration: ${config.envFile ? `from ${config.envFile} and the environment` : 'from the environment (no .env file)'}`);
      const results = await runDoctor({ config, logger: commandLogger(config) });
      for (const result of results) console.log(`${result.ok ? 'ok  ' : 'FAIL'} ${result.name}: ${result.detail}`);
      const failed = results.filter((result) => !result.ok).length;
      if (failed > 0) throw new CliError(`${failed} check(s) failed`);
    });
}
