import type { Db } from 'mongodb';
import { saveIndexFromMessages } from '../../modules/messages/memory-timeline.js';
import { MessagesRepo } from '../../modules/messages/repo.js';
import { TimelineRepo } from '../../modules/messages/timeline-repo.js';
import { detectEngine } from '../engine.js';
import type { Migration } from './types.js';

// On FerretDB, history, resume, unread counts and file access read chatd's own message index
// (modules/messages/timeline.ts) instead of queries that scan every message. This builds and saves
// it from the messages already stored, so the first `chatd serve` after the upgrade loads it
// instead of building it itself. Safe to run again and after an interruption: it starts by
// marking the saved index incomplete and rebuilds it whole from the messages (the source of truth)
// each time; `chatd serve` also rebuilds an index it finds incomplete. On MongoDB the indexes of
// 0001 serve these reads, and nothing is built.
export const migration: Migration = {
  id: '0002-message-index',
  description: 'build the message index on the embedded database (history and unread counts stop scanning every message)',
  async up(db: Db) {
    const saved = new TimelineRepo(db);
    if ((await detectEngine(db)) !== 'ferretdb') {
      await saved.forget();
      return;
    }
    await saveIndexFromMessages(new MessagesRepo(db), saved);
  },
};
