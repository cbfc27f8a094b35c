import type { Migration } from './types.js';
import { migration as initial } from './0001-initial.js';
import { migration as messageIndex } from './0002-message-index.js';
import { migration as relativeAvatars } from './0003-relative-avatars.js';
import { migration as indexesPerEngine } from './0004-indexes-per-engine.js';

/** Every migration, in the order they apply. A unit test checks this matches the files. */
export const migrations: readonly Migration[] = [initial, messageIndex, relativeAvatars, indexesPerEngine];
