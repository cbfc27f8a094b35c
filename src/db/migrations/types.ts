import type { Db } from 'mongodb';

export interface Migration {
  /** `NNNN-name`, the file's name; migrations apply in this order. */
  id: string;
  description: string;
  /** Must be safe to run twice: an interrupted run is simply run again. */
  up(db: Db): Promise<void>;
}
