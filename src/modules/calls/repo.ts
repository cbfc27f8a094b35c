import type { Collection, Db, Filter, ObjectId } from 'mongodb';
import type { CallDocument, CallStatus } from './types.js';

export interface CallPage {
  skip: number;
  limit: number;
  status?: CallStatus;
}

/** The `calls` collection. */
export class CallsRepo {
  private readonly calls: Collection<CallDocument>;

  constructor(db: Db) {
    this.calls = db.collection<CallDocument>('calls');
  }

  /** Stores a new call. */
  async insert(call: CallDocument): Promise<void> {
    await this.calls.insertOne(call);
  }

  /** Calls the user made or received, newest first; reads one more than `limit` so callers can tell whether more exist. */
  listForUser(userId: ObjectId, page: CallPage): Promise<CallDocument[]> {
    const filter: Filter<CallDocument> = { $or: [{ callerId: userId }, { calleeId: userId }] };
    if (page.status) filter.status = page.status;
    return this.calls.find(filter).sort({ startedAt: -1, _id: -1 }).skip(page.skip).limit(page.limit + 1).toArray();
  }

  /** Records a state change of one call. */
  async update(id: ObjectId, change: Partial<Omit<CallDocument, '_id'>>): Promise<void> {
    await this.calls.updateOne({ _id: id }, { $set: change });
  }

  /**
   * Closes the calls a previous run left ringing or active (it died without ending them): started
   * before `before`, so calls this run placed meanwhile stay untouched. Returns how many closed.
   */
  async closeAbandoned(before: Date, now: Date): Promise<number> {
    const [ringing, active] = await Promise.all([
      this.calls.updateMany(
        { status: 'ringing', startedAt: { $lt: before } },
        { $set: { status: 'missed', endedAt: now, endReason: 'server_restart', duration: 0 } },
      ),
      // How long these calls really lasted is unknown, so they get no duration rather than a wrong one.
      this.calls.updateMany({ status: 'active', startedAt: { $lt: before } }, { $set: { status: 'ended', endedAt: now, endReason: 'server_restart' } }),
    ]);
    return ringing.modifiedCount + active.modifiedCount;
  }
}
