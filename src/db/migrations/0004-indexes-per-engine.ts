import type { Db } from 'mongodb';
import { detectEngine } from '../engine.js';
import { fitIndexes } from '../index-layout.js';
import type { Migration } from './types.js';

// On the embedded database (FerretDB 1.24) an index that enforces nothing is never read, yet every
// insert pays for it: this drops those (three per stored message) and keeps the unique ones. On
// MongoDB it creates whatever the layout lacks, which also repairs a database restored there from
// an embedded one's backup. Safe to run again: it only converges on the layout.
export const migration: Migration = {
  id: '0004-indexes-per-engine',
  description: 'keep on the embedded database only the indexes it uses (the unique ones); keep every index on MongoDB',
  async up(db: Db) {
    await fitIndexes(db, await detectEngine(db));
  },
};
