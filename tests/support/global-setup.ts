import type { TestProject } from 'vitest/node';
import { startTestDatabase } from './test-database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUri: string;
    databaseKind: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const database = await startTestDatabase();
  console.log(`tests use ${database.kind === 'embedded' ? 'the embedded FerretDB' : database.kind === 'testcontainers' ? 'a mongo:7 container' : 'CHATD_TEST_MONGODB_URI'} at ${database.uri}`);
  project.provide('mongoUri', database.uri);
  project.provide('databaseKind', database.kind);
  return () => database.stop();
}
