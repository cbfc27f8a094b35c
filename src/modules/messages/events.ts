import { Forbidden, NotFound } from '../../errors.js';
import { EncodedJson } from '../../realtime/codec.js';
import { roomTopic } from '../../realtime/publisher.js';
import { handler, type HubModule } from '../../realtime/types.js';
import { JoinRoomEvent } from '../rooms/schemas.js';
import type { RoomAccess } from '../rooms/access.js';
import type { RoomsService } from '../rooms/service.js';
import { presentMessage } from './presenter.js';
import { EditMessageEvent, MessageRef, ReactionEvent, SendMessageSchema } from './schemas.js';
import type { MessagesService } from './service.js';

const HISTORY_LIMIT = 50;

export interface MessagesEventsDeps {
  messages: MessagesService;
  access: RoomAccess;
  /** Joins a public room on join_room (the spec has no other call for it). */
  rooms: Pick<RoomsService, 'join'>;
}

/**
 * A member's join_room, or a first join of a public room: the spec has no other call to join one.
 * A private room stays FORBIDDEN, the same answer as a room that does not exist.
 */
async function joinOrMayRead({ access, rooms }: MessagesEventsDeps, roomId: string, userId: string): Promise<void> {
  try {
    await access.mayRead(roomId, userId);
  } catch (error) {
    if (!(error instanceof Forbidden)) throw error;
    try {
      await rooms.join(userId, roomId);
    } catch (joinError) {
      throw joinError instanceof NotFound ? error : joinError;
    }
  }
}

/** The hub's message events; each replies to the sender and the service broadcasts to the room. */
export function messagesEvents(deps: MessagesEventsDeps): HubModule {
  const { messages } = deps;
  return {
    handlers: {
      join_room: handler({
        schema: JoinRoomEvent,
        handle: async ({ conn, principal }, { roomId, since }) => {
          await joinOrMayRead(deps, roomId, principal.userId);
          if (conn.closed) return;
          // Subscribed before reading: a message stored meanwhile arrives live if the replay misses it.
          conn.subscribe(roomTopic(roomId));
          const replay = await messages.replay(principal.userId, roomId, since, HISTORY_LIMIT);
          return {
            event: 'message_history',
            data: {
              roomId,
              messages: replay.messages.map(presentMessage),
              updated: replay.updated.map(presentMessage),
              hasMore: replay.hasMore,
              updatesTruncated: replay.updatesTruncated,
              ...(replay.cursorUnknown ? { cursorUnknown: true } : {}),
            },
          };
        },
      }),
      send_message: handler({
        schema: SendMessageSchema,
        handle: async ({ principal }, data) => {
          const { json, created } = await messages.send(principal.userId, data);
          // The broadcast's JSON is reused, so the message is serialised once for both frames.
          return { event: 'message_sent', data: new EncodedJson(`{"message":${json},"duplicate":${!created}}`, { message: json }) };
        },
      }),
      mark_message_read: handler({
        schema: MessageRef,
        handle: async ({ principal }, messageId) => ({ event: 'message_read', data: await messages.markRead(principal.userId, messageId) }),
      }),
      add_reaction: handler({
        schema: ReactionEvent,
        handle: async ({ principal }, { messageId, emoji }) => ({ event: 'reaction_added', data: await messages.react(principal.userId, messageId, emoji, true) }),
      }),
      remove_reaction: handler({
        schema: ReactionEvent,
        handle: async ({ principal }, { messageId, emoji }) => ({ event: 'reaction_removed', data: await messages.react(principal.userId, messageId, emoji, false) }),
      }),
      edit_message: handler({
        schema: EditMessageEvent,
        handle: async ({ principal }, { messageId, content }) => ({
          event: 'message_edited',
          data: { message: presentMessage(await messages.edit(principal.userId, messageId, content)) },
        }),
      }),
      delete_message: handler({
        schema: MessageRef,
        handle: async ({ principal }, messageId) => ({ event: 'message_deleted', data: { message: presentMessage(await messages.delete(principal.userId, messageId)) } }),
      }),
    },
  };
}
