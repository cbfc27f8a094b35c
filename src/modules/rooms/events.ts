import { Forbidden } from '../../errors.js';
import { encodeFrame } from '../../realtime/codec.js';
import { roomTopic } from '../../realtime/publisher.js';
import type { SocketData } from '../../realtime/socket-data.js';
import { handler, type HubModule, type HubSocket } from '../../realtime/types.js';
import type { RoomEntry } from './membership-cache.js';
import { LeaveRoomEvent, TypingEvent } from './schemas.js';
import type { RoomAccess } from './access.js';

/** A `true` is relayed at most this often per connection and room; one `false` may follow each. */
const TYPING_INTERVAL_MS = 2000;

function relayTyping(ws: HubSocket, socket: SocketData, entry: RoomEntry, roomId: string, isTyping: boolean): void {
  const userId = socket.principal!.userId;
  if (!entry.members.has(userId)) throw new Forbidden('You are not a member of this room');
  const typing = (socket.typing ??= new Map());
  const state = typing.get(roomId);
  const now = Date.now();
  if (isTyping) {
    if (state && now - state.startedAt < TYPING_INTERVAL_MS) return;
    if (state) {
      state.startedAt = now;
      state.active = true;
    } else {
      typing.set(roomId, { startedAt: now, active: true });
    }
  } else {
    if (!state?.active) return;
    state.active = false;
  }
  // Relayed to the room's other connections (not this one), never stored.
  ws.publish(roomTopic(roomId), encodeFrame('user_typing', { roomId, userId, isTyping }), false);
}

export interface RoomsEventsDeps {
  access: RoomAccess;
}

/** leave_room and user_typing; join_room lives with the messages it replays. */
export function roomsEvents({ access }: RoomsEventsDeps): HubModule {
  return {
    handlers: {
      leave_room: handler({
        schema: LeaveRoomEvent,
        handle: async ({ ws, socket, principal }, { roomId }) => {
          await access.mayRead(roomId, principal.userId);
          if (socket.closed) return;
          ws.unsubscribe(roomTopic(roomId));
          socket.typing?.delete(roomId);
          return { event: 'room_left', data: { roomId } };
        },
      }),
      user_typing: handler({
        schema: TypingEvent,
        // Throttled per room instead: a flood of typing events costs the sender nothing else.
        rateLimited: false,
        handle: ({ ws, socket }, { roomId, isTyping }) => {
          const entry = access.room(roomId);
          if (!(entry instanceof Promise)) return relayTyping(ws, socket, entry, roomId, isTyping);
          return entry.then((loaded) => {
            if (!socket.closed) relayTyping(ws, socket, loaded, roomId, isTyping);
          });
        },
      }),
    },
  };
}
