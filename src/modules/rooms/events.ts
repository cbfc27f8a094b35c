import { roomTopic } from '../../realtime/publisher.js';
import { handler, type Connection, type HubModule, type RoomBroadcaster } from '../../realtime/types.js';
import type { RoomEntry } from './membership-cache.js';
import { LeaveRoomEvent, TypingEvent } from './schemas.js';
import type { RoomAccess } from './access.js';

/** A `true` is relayed at most this often per connection and room; one `false` may follow each. */
const TYPING_INTERVAL_MS = 2000;

/** The stored name of a user, for typing relays (the client's own `username` is never trusted). */
export type UsernameLookup = (userId: string) => Promise<string>;

/** Whether this typing state is relayed; updates the connection's throttle. */
function shouldRelay(access: RoomAccess, conn: Connection, entry: RoomEntry, roomId: string, isTyping: boolean): boolean {
  access.memberRole(entry, conn.principal!.userId);
  const typing = (conn.typing ??= new Map());
  const state = typing.get(roomId);
  const now = Date.now();
  if (isTyping) {
    if (state && now - state.startedAt < TYPING_INTERVAL_MS) return false;
    if (state) {
      state.startedAt = now;
      state.active = true;
    } else {
      typing.set(roomId, { startedAt: now, active: true });
    }
    return true;
  }
  if (!state?.active) return false;
  state.active = false;
  return true;
}

function relayTyping(conn: Connection, rooms: RoomBroadcaster, roomId: string, isTyping: boolean): void {
  // Relayed to the room's other connections (not this one), never stored.
  rooms.publish(roomTopic(roomId), 'user_typing', { roomId, userId: conn.principal!.userId, username: conn.username, isTyping }, conn);
}

export interface RoomsEventsDeps {
  access: RoomAccess;
  usernameOf: UsernameLookup;
}

/** leave_room and user_typing; join_room lives with the messages it replays. */
export function roomsEvents({ access, usernameOf }: RoomsEventsDeps): HubModule {
  const lookups = new WeakMap<Connection, Promise<string>>();
  return {
    handlers: {
      leave_room: handler({
        schema: LeaveRoomEvent,
        handle: async ({ conn, principal }, { roomId }) => {
          await access.mayRead(roomId, principal.userId);
          if (conn.closed) return;
          conn.unsubscribe(roomTopic(roomId));
          conn.typing?.delete(roomId);
          return { event: 'room_left', data: { roomId } };
        },
      }),
      user_typing: handler({
        schema: TypingEvent,
        // Throttled per room instead: a flood of typing events costs the sender nothing else.
        rateLimited: false,
        handle: ({ conn, rooms: broadcaster }, { roomId, isTyping }) => {
          const entry = access.room(roomId);
          if (!(entry instanceof Promise) && conn.username !== undefined) {
            if (shouldRelay(access, conn, entry, roomId, isTyping)) relayTyping(conn, broadcaster, roomId, isTyping);
            return;
          }
          return (async () => {
            const loaded = await entry;
            if (conn.closed || !shouldRelay(access, conn, loaded, roomId, isTyping)) return;
            if (conn.username === undefined) {
              // One lookup per connection; relays waiting on it leave in the order they came.
              let lookup = lookups.get(conn);
              if (!lookup) lookups.set(conn, (lookup = usernameOf(conn.principal!.userId)));
              conn.username = await lookup;
              lookups.delete(conn);
            }
            if (!conn.closed) relayTyping(conn, broadcaster, roomId, isTyping);
          })();
        },
      }),
    },
  };
}
