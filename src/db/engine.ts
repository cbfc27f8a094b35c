import type { Db } from 'mongodb';

/** Which server answers the wire protocol: what chatd can expect of its queries. */
export type DatabaseEngine = 'mongodb' | 'ferretdb';

/**
 * FerretDB adds `ferretdbVersion` to buildInfo. It matters because FerretDB 1.24 uses no index to
 * answer a query (only `{_id: value}` is looked up directly; every other filter and sort reads
 * the whole collection), so chatd keeps its own message index there (modules/messages/timeline.ts).
 */
export async function detectEngine(db: Db): Promise<DatabaseEngine> {
  const info = await db.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string' ? 'ferretdb' : 'mongodb';
}
