import { Conflict, StorageFull, Unavailable } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { MessagesRepo } from './repo.js';
import type { MessageDocument } from './types.js';

export interface WriteResult {
  /** The stored message: the new one, or the one a retry with the same clientMsgId found. */
  doc: MessageDocument;
  /** False when the clientMsgId had already been used. */
  created: boolean;
  /** The message serialised by `onStored` for its broadcast, reusable in the sender's acknowledgement. */
  json: string | undefined;
}

export interface MessageWriterOptions {
  repo: MessagesRepo;
  logger: Logger;
  /** Largest batch one insert carries. */
  batchMax: number;
  /** How long the first message of a batch waits for company (ms; 0 = next tick). */
  flushMs: number;
  /** Messages accepted but not yet stored before new ones are refused. */
  queueMax: number;
  /** Runs for every stored message in id order, after the batch is durable and before anyone is answered; returns its JSON. */
  onStored(doc: MessageDocument): string;
  /** How long a batch may keep failing before its senders (and everyone queued behind them) are told UNAVAILABLE (ms). */
  deadlineMs?: number;
  /** The stored originals of retried sends (null: not found), without reading the whole collection. */
  findOriginals?(retries: MessageDocument[]): Promise<(MessageDocument | null)[]>;
  /** Refuses sends at once while the disk is full, and learns of writes that failed for lack of space. */
  storage?: { assertWritable(): void; noteFailure(error: unknown): boolean };
}

interface Entry {
  doc: MessageDocument;
  sender: string;
  resolve(result: WriteResult): void;
  reject(error: unknown): void;
  promise: Promise<WriteResult>;
}

type Outcome = WriteResult | 'duplicate' | Error;

/** Consecutive failed attempts (about 30 s with the backoff) before a batch's senders are told to retry. */
const MAX_FAILURES = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Group commit for messages. Sends wait in a bounded queue; one insert at a time stores a batch
 * (the first message waits at most `flushMs`, a full batch goes at once, and whatever arrived
 * during an insert goes right after it). A sender is answered only once its batch is durable.
 *
 * Only one batch is in flight and inserts are ordered, so messages become visible in id order:
 * a client that saw message N can never later find an older message N-1 appearing behind its
 * `since` cursor. A batch whose outcome is unknown (the connection failed mid-insert) is retried
 * with the same ids after checking which of them landed; it holds back later batches until it
 * succeeds, or until the shutdown deadline passes and its senders are told UNAVAILABLE.
 */
export class MessageWriter {
  private queue: Entry[] = [];
  /** Messages accepted and not yet answered, by sender and clientMsgId: a retry joins the original. */
  private readonly pending = new Map<string, Map<string, Entry>>();
  private inFlight = 0;
  private flushing = false;
  /** When the last flush finished (performance.now()); -Infinity before the first. */
  private lastFlushEnded = Number.NEGATIVE_INFINITY;
  /** Cancels the flush scheduled for the first queued message, if one is. */
  private cancelFlush: (() => void) | undefined;
  private closed = false;
  private deadline: number | undefined;
  private idleWaiters: (() => void)[] = [];
  /** Retries whose stored originals are being looked up (settled outside the write path). */
  private readonly lookups = new Set<Promise<void>>();
  private readonly log: Logger;

  constructor(private readonly options: MessageWriterOptions) {
    this.log = options.logger.child({ component: 'message-writer' });
  }

  /** Resolves once the message (or the one already stored under its clientMsgId) is durable. */
  write(doc: MessageDocument, sender: string): Promise<WriteResult> {
    const original = this.pending.get(sender)?.get(doc.clientMsgId);
    if (original) return original.promise.then((result) => ({ doc: result.doc, created: false, json: result.json }));
    if (this.closed) return Promise.reject(new Unavailable('The server is shutting down; send again after reconnecting'));
    try {
      this.options.storage?.assertWritable();
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.queue.length + this.inFlight >= this.options.queueMax) {
      return Promise.reject(new Unavailable('Too many messages are waiting to be stored; try again shortly'));
    }
    let resolve!: Entry['resolve'];
    let reject!: Entry['reject'];
    const promise = new Promise<WriteResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = { doc, sender, resolve, reject, promise };
    this.queue.push(entry);
    let bySender = this.pending.get(sender);
    if (!bySender) this.pending.set(sender, (bySender = new Map()));
    bySender.set(doc.clientMsgId, entry);
    this.schedule();
    return promise;
  }

  /** Messages accepted and not yet stored. */
  get backlog(): number {
    return this.queue.length + this.inFlight;
  }

  /** Refuses new messages and stores everything accepted; gives up retrying a failing database after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.closed = true;
    this.deadline = Date.now() + timeoutMs;
    this.cancelFlush?.();
    this.cancelFlush = undefined;
    if (!this.flushing && this.queue.length > 0) void this.flush();
    if (this.flushing || this.queue.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    while (this.lookups.size > 0) await Promise.all(this.lookups);
  }

  /**
   * A full batch goes at once. Otherwise the first message waits up to `flushMs` for company, but
   * only while messages are flowing: when the last batch finished more than `flushMs` ago, traffic
   * is sparser than the window and nobody would join it, so the message goes after the current
   * event-loop turn (with whatever that turn brought). Under load the window builds the large
   * batches that keep the database's cost per message low; a lone message pays no window.
   */
  private schedule(): void {
    if (this.flushing) return;
    if (this.queue.length >= this.options.batchMax) {
      this.cancelFlush?.();
      this.cancelFlush = undefined;
      void this.flush();
    } else if (!this.cancelFlush) {
      if (performance.now() - this.lastFlushEnded >= this.options.flushMs) {
        const immediate = setImmediate(() => void this.flush());
        this.cancelFlush = () => clearImmediate(immediate);
      } else {
        const timer = setTimeout(() => void this.flush(), this.options.flushMs);
        this.cancelFlush = () => clearTimeout(timer);
      }
    }
  }

  private async flush(): Promise<void> {
    this.cancelFlush = undefined;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= this.options.batchMax ? this.queue : this.queue.slice(0, this.options.batchMax);
        this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
        this.inFlight = batch.length;
        await this.store(batch);
        this.inFlight = 0;
      }
    } finally {
      this.flushing = false;
      this.lastFlushEnded = performance.now();
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private async store(batch: Entry[]): Promise<void> {
    const outcomes: Outcome[] = new Array(batch.length);
    let offset = 0;
    let uncertain = false;
    let delay = 50;
    let failures = 0;
    const givingUpAt = Date.now() + (this.options.deadlineMs ?? 30_000);
    while (offset < batch.length) {
      try {
        if (uncertain) {
          // The last attempt may have stored a prefix of what remained before failing.
          const landed = await this.options.repo.existingIds(batch.slice(offset).map((entry) => entry.doc._id));
          while (offset < batch.length && landed.has(batch[offset]!.doc._id.toHexString())) {
            outcomes[offset] = { doc: batch[offset]!.doc, created: true, json: undefined };
            offset += 1;
          }
          uncertain = false;
          if (offset === batch.length) break;
        }
        const result = await this.options.repo.insertOrdered(offset === 0 ? batch.map((entry) => entry.doc) : batch.slice(offset).map((entry) => entry.doc));
        for (let i = 0; i < result.stored; i += 1) outcomes[offset + i] = { doc: batch[offset + i]!.doc, created: true, json: undefined };
        offset += result.stored;
        if (result.failed) {
          outcomes[offset] = result.failed.duplicate ? 'duplicate' : new Error(`message could not be stored: ${result.failed.message}`);
          offset += 1;
        }
        delay = 50;
        failures = 0;
      } catch (error) {
        failures += 1;
        const full = this.options.storage?.noteFailure(error) ?? false;
        if (full || Date.now() >= givingUpAt || (this.deadline !== undefined && Date.now() > this.deadline) || failures >= MAX_FAILURES) {
          // Not acknowledged, so not promised: the senders retry with the same clientMsgId and
          // get whichever of these did land. Those queued behind would wait as long again for
          // the same database: they are answered now too.
          const failure = full ? new StorageFull() : new Unavailable('The message could not be stored in time; send it again with the same clientMsgId');
          this.log.error({ err: error, unconfirmed: batch.length - offset, queued: this.queue.length }, 'giving up storing a batch of messages; their senders were not acknowledged');
          for (; offset < batch.length; offset += 1) outcomes[offset] = failure;
          this.failQueued(failure);
          break;
        }
        this.log.warn({ err: error, retryInMs: delay, waiting: batch.length - offset }, 'storing messages failed; retrying the same batch');
        uncertain = true;
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
    const fresh: Entry[] = [];
    const freshOutcomes: Outcome[] = [];
    const retries: Entry[] = [];
    for (let i = 0; i < batch.length; i += 1) {
      if (outcomes[i] === 'duplicate') {
        retries.push(batch[i]!);
      } else {
        fresh.push(batch[i]!);
        freshOutcomes.push(outcomes[i]!);
      }
    }
    this.settle(fresh, freshOutcomes);
    if (retries.length === 0) return;
    // The originals of retried messages are looked up off the write path: on FerretDB that query
    // reads the whole collection, and every other sender's next batch would wait for it.
    const lookup = this.originalsOf(retries).then((found) => this.settle(retries, found));
    this.lookups.add(lookup);
    void lookup.finally(() => this.lookups.delete(lookup));
  }

  /** Answers everything queued (not yet in flight) with `failure`. */
  private failQueued(failure: Error): void {
    const queued = this.queue;
    this.queue = [];
    this.settle(queued, queued.map(() => failure));
  }

  /** A duplicate is a retry of a message stored earlier under the same clientMsgId: answer with that one. */
  private async originalsOf(retries: Entry[]): Promise<Outcome[]> {
    try {
      const docs = retries.map(({ doc }) => doc);
      const found = this.options.findOriginals
        ? await this.options.findOriginals(docs)
        : await this.options.repo.findByClientIds(docs).then((rows) => docs.map((doc) => rows.find((m) => m.senderId.equals(doc.senderId) && m.clientMsgId === doc.clientMsgId) ?? null));
      return retries.map(({ doc }, i) => {
        const stored = found[i];
        return stored
          ? { doc: stored, created: stored._id.equals(doc._id), json: undefined }
          : new Conflict('This clientMsgId was already used for another message (in another room, or long ago); send with a new one');
      });
    } catch (error) {
      this.log.warn({ err: error }, 'could not look up the originals of retried messages');
      return retries.map(() => new Unavailable('The message could not be confirmed; send it again with the same clientMsgId'));
    }
  }

  private settle(batch: Entry[], outcomes: Outcome[]): void {
    for (let i = 0; i < batch.length; i += 1) {
      const outcome = outcomes[i]!;
      if (typeof outcome === 'object' && !(outcome instanceof Error) && outcome.created) {
        try {
          outcome.json = this.options.onStored(outcome.doc);
        } catch (error) {
          this.log.error({ err: error }, 'broadcasting a stored message failed');
        }
      }
    }
    for (let i = 0; i < batch.length; i += 1) {
      const entry = batch[i]!;
      const outcome = outcomes[i]!;
      const bySender = this.pending.get(entry.sender);
      if (bySender?.get(entry.doc.clientMsgId) === entry) {
        bySender.delete(entry.doc.clientMsgId);
        if (bySender.size === 0) this.pending.delete(entry.sender);
      }
      if (outcome instanceof Error) entry.reject(outcome);
      else entry.resolve(outcome as WriteResult);
    }
  }
}
