/** A background job run by `chatd serve` (token sweeps, backups, retention). */
export interface BackgroundJob {
  name: string;
  start(): void;
  stop(): Promise<void> | void;
}
