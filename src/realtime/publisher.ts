import type { SocketData } from './types.js';

/**
 * What services may ask of the live connections, without knowing about uWS. The hub implements
 * it in `chatd serve`; CLI commands, which have no connections, use `offlinePublisher`.
 */
export interface RealtimePublisher {
  publish(topic: string, event: string, data: unknown): void;
  sendToUser(userId: string, event: string, data: unknown): void;
  /**
   * Sends one event to every connection of these users, serialised once, at the end of this
   * event-loop turn: what a connection is sent this way in one turn leaves in one write.
   */
  sendToUsers(userIds: Iterable<string>, event: string, data: unknown): void;
  isOnline(userId: string): boolean;
  /** Ids (`SocketData.connId`) of a user's open connections: one per device or tab. */
  connectionIds(userId: string): number[];
  /** Sends an event to one connection of a user; false when it is no longer open. */
  sendToConnection(userId: string, connId: number, event: string, data: unknown): boolean;
  /** Stops every connection of the user from receiving `topic`. */
  unsubscribeUser(userId: string, topic: string): void;
  disconnect(predicate: (socket: SocketData) => boolean, code: number, reason: string): number;
}

export const offlinePublisher: RealtimePublisher = {
  publish: () => undefined,
  sendToUser: () => undefined,
  sendToUsers: () => undefined,
  isOnline: () => false,
  connectionIds: () => [],
  sendToConnection: () => false,
  unsubscribeUser: () => undefined,
  disconnect: () => 0,
};

export const roomTopic = (roomId: string): string => `room:${roomId}`;
