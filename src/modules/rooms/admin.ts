import Router from '@koa/router';
import { ObjectId } from 'mongodb';
import { z } from 'zod';
import { Forbidden, NotFound } from '../../errors.js';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { roomTopic, type RealtimePublisher } from '../../realtime/publisher.js';
import { IdParams, pageLimit, pageNumber } from '../../schemas.js';
import { presentRoom } from './presenter.js';
import type { RoomsRepo } from './repo.js';
import { RoomRetentionSchema, type RoomRetentionInput } from './schemas.js';

const AdminRoomsQuery = z.strictObject({ search: z.string().max(100, 'must be at most 100 characters').optional(), page: pageNumber.default(1), limit: pageLimit(20) });
type AdminRoomsQuery = z.infer<typeof AdminRoomsQuery>;

/**
 * The server administrator's view of rooms: every public and private room (direct rooms are their
 * two members' business), and each room's message retention, whether or not the administrator is
 * a member. Room owners keep setting it themselves through PATCH /api/rooms/:id.
 */
export class RoomsAdmin {
  constructor(
    private readonly rooms: RoomsRepo,
    private readonly realtime: RealtimePublisher,
    /** RETENTION_DAYS: what rooms without their own setting follow (undefined: forever). */
    private readonly globalRetentionDays: number | undefined,
  ) {}

  /** A page of rooms by name, with the global retention they fall back to. */
  async list({ search, page, limit }: AdminRoomsQuery) {
    const { rooms, hasMore } = await this.rooms.pageByName({ prefix: search, skip: (page - 1) * limit, limit });
    return { rooms: rooms.map(presentRoom), page, limit, hasMore, globalRetentionDays: this.globalRetentionDays ?? null };
  }

  /** Sets a room's retention and tells its members, as an owner's change would. */
  async setRetention(roomId: string, { retentionDays }: RoomRetentionInput) {
    const id = new ObjectId(roomId);
    const room = await this.rooms.findById(id);
    if (!room) throw new NotFound('Room not found');
    if (room.type === 'direct') throw new Forbidden('The two members of a direct room decide how long it keeps its messages');
    const updated = await this.rooms.setRetention(id, retentionDays);
    if (!updated) throw new NotFound('Room not found');
    const presented = presentRoom(updated);
    this.realtime.publish(roomTopic(roomId), 'room_updated', { room: presented });
    return presented;
  }
}

export interface RoomsAdminRoutesDeps {
  admin: RoomsAdmin;
  requireAuth: ChatdMiddleware;
  requireAdmin: ChatdMiddleware;
}

/** GET /api/admin/rooms and PATCH /api/admin/rooms/:id (administrators only). */
export function roomsAdminRoutes({ admin, requireAuth, requireAdmin }: RoomsAdminRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  router.get('/api/admin/rooms', requireAuth, requireAdmin, validate({ query: AdminRoomsQuery }), async (ctx) => {
    ctx.body = { success: true, ...(await admin.list(input<unknown, AdminRoomsQuery>(ctx).query)) };
  });
  router.patch('/api/admin/rooms/:id', requireAuth, requireAdmin, validate({ params: IdParams, body: RoomRetentionSchema }), async (ctx) => {
    const { body, params } = input<RoomRetentionInput, unknown, { id: string }>(ctx);
    ctx.body = { success: true, room: await admin.setRetention(params.id, body) };
  });
  return router;
}
