import { ObjectId } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { CHANGES_KEPT, RoomIndex, SnapshotBuilder } from '../../src/modules/messages/room-index.js';

const hex = () => new ObjectId().toHexString();
/** `count` ascending message ids. */
const ids = (count: number) => Array.from({ length: count }, () => hex()).sort();

describe('RoomIndex', () => {
  it('pages newest first by offset or before an id, and lists what came after an id, oldest first', () => {
    const index = new RoomIndex();
    const room = hex();
    const all = ids(10);
    for (const id of all) index.append(room, id, 'alice');
    expect(index.pageIds(room, undefined, 0, 3)).toEqual([all[9], all[8], all[7]]);
    expect(index.pageIds(room, undefined, 3, 3)).toEqual([all[6], all[5], all[4]]);
    expect(index.pageIds(room, undefined, 9, 3)).toEqual([all[0]]);
    expect(index.pageIds(room, undefined, 10, 3)).toEqual([]);
    expect(index.pageIds(room, all[5], 0, 3)).toEqual([all[4], all[3], all[2]]);
    expect(index.afterIds(room, all[6]!, 10)).toEqual(all.slice(7));
    expect(index.afterIds(room, all[9]!, 10)).toEqual([]);
    expect(index.pageIds(hex(), undefined, 0, 5)).toEqual([]);
    expect(index.size).toBe(10);
    expect(index.newest).toBe(all[9]);
  });

  it('keeps ids in order when one arrives late, and ignores one it already has', () => {
    const index = new RoomIndex();
    const room = hex();
    const [a, b, c] = ids(3);
    index.append(room, a!, 'u');
    index.append(room, c!, 'u');
    index.append(room, b!, 'u');
    index.append(room, c!, 'u');
    expect(index.afterIds(room, '0'.repeat(24), 10)).toEqual([a, b, c]);
    expect(index.size).toBe(3);
  });

  it('counts the unread messages of others after the marker, without deleted ones, up to the cap', () => {
    const index = new RoomIndex();
    const room = hex();
    const all = ids(12);
    all.forEach((id, i) => index.append(room, id, i % 3 === 0 ? 'me' : 'other'));
    expect(index.unread(room, null, 'me', 1000)).toBe(8);
    expect(index.unread(room, all[5]!, 'me', 1000)).toBe(4);
    index.change(room, all[7]!, Date.now(), true);
    expect(index.unread(room, all[5]!, 'me', 1000)).toBe(3);
    expect(index.unread(room, null, 'me', 2)).toBe(2);
    expect(index.unread(room, all[11]!, 'me', 1000)).toBe(0);
  });

  it('answers the messages changed since a time, each once, and says when it cannot know all of them', () => {
    const index = new RoomIndex();
    const room = hex();
    const all = ids(6);
    for (const id of all) index.append(room, id, 'u');
    index.change(room, all[1]!, 1000, false);
    index.change(room, all[2]!, 2000, false);
    index.change(room, all[1]!, 3000, false);
    // Finished out of order: still found by time.
    index.change(room, all[4]!, 2500, false);
    expect(index.changedIds(room, all[5]!, 1500, 10)).toEqual({ ids: [all[1], all[4], all[2]], truncated: false });
    // Only messages up to the cursor.
    expect(index.changedIds(room, all[3]!, 1500, 10)).toEqual({ ids: [all[1], all[2]], truncated: false });
    expect(index.changedIds(room, all[5]!, 0, 2)).toEqual({ ids: [all[1], all[4]], truncated: true });
    expect(index.changedIds(room, all[5]!, 4000, 10)).toEqual({ ids: [], truncated: false });
  });

  it('keeps the most recently changed messages when changes pile up, and knows from when its answers are incomplete', () => {
    const index = new RoomIndex();
    const room = hex();
    const all = ids(CHANGES_KEPT + 10);
    for (const id of all) index.append(room, id, 'u');
    all.forEach((id, i) => index.change(room, id, 10_000 + i, false));
    // Repeated changes of one message do not push others out.
    for (let i = 0; i < CHANGES_KEPT; i++) index.change(room, all.at(-1)!, 20_000 + i, false);
    const recent = index.changedIds(room, all.at(-1)!, 10_000 + 10, CHANGES_KEPT + 10);
    expect(recent.truncated).toBe(false);
    expect(recent.ids).toHaveLength(CHANGES_KEPT);
    expect(index.changedIds(room, all.at(-1)!, 10_000, CHANGES_KEPT + 10).truncated).toBe(true);
  });

  it('forgets removed messages everywhere: pages, counts, changes and file shares', () => {
    const index = new RoomIndex();
    const room = hex();
    const other = hex();
    const file = hex();
    const all = ids(5);
    index.append(room, all[0]!, 'a', file);
    index.append(room, all[1]!, 'b');
    index.append(other, all[2]!, 'a', file);
    index.append(room, all[3]!, 'b');
    index.change(room, all[0]!, 5, false);
    expect(index.roomsSharing(file).sort()).toEqual([room, other].sort());
    index.change(other, all[2]!, 6, true);
    expect(index.roomsSharing(file)).toEqual([room]);
    index.remove(room, [all[0]!, all[1]!]);
    expect(index.pageIds(room, undefined, 0, 10)).toEqual([all[3]]);
    expect(index.roomsSharing(file)).toEqual([]);
    expect(index.changedIds(room, all[4]!, 0, 10).ids).toEqual([]);
    expect(index.size).toBe(2);
  });

  it('saves and restores a room unchanged through a snapshot', () => {
    const index = new RoomIndex();
    const room = hex();
    const all = ids(4);
    all.forEach((id, i) => index.append(room, id, `s${i % 2}`, i === 2 ? 'f'.repeat(24) : undefined));
    index.change(room, all[1]!, 42, true);
    const copy = new RoomIndex();
    copy.restore(index.snapshot(room)!);
    expect(copy.pageIds(room, undefined, 0, 10)).toEqual(index.pageIds(room, undefined, 0, 10));
    expect(copy.unread(room, null, 's0', 100)).toBe(index.unread(room, null, 's0', 100));
    expect(copy.changedIds(room, all[3]!, 0, 10)).toEqual(index.changedIds(room, all[3]!, 0, 10));
    expect(copy.roomsSharing('f'.repeat(24))).toEqual([room]);
    expect(copy.dirty.size).toBe(0);
  });
});

describe('SnapshotBuilder', () => {
  it('builds rooms from messages read in any order, with changes known from updatedAt', () => {
    const builder = new SnapshotBuilder();
    const room = hex();
    const all = ids(4);
    const file = hex();
    builder.add({ id: all[2]!, roomId: room, sender: 'b', deleted: true, createdAt: 10, updatedAt: 50 });
    builder.add({ id: all[0]!, roomId: room, sender: 'a', deleted: false, fileId: file, createdAt: 5, updatedAt: 5 });
    builder.add({ id: all[3]!, roomId: room, sender: 'a', deleted: false, createdAt: 12, updatedAt: 40 });
    builder.add({ id: all[1]!, roomId: room, sender: 'b', deleted: false, createdAt: 8, updatedAt: 8 });
    const [snapshot] = [...builder.snapshots()];
    expect(snapshot).toEqual({
      roomId: room,
      ids: all,
      senders: ['a', 'b', 'b', 'a'],
      deleted: [all[2]],
      files: [[all[0], file]],
      changes: [{ id: all[3], at: 40 }, { id: all[2], at: 50 }],
      forgottenUpTo: 0,
    });
  });
});
