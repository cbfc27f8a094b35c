import Router from '@koa/router';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { IdParams as RoomParams } from '../../schemas.js';
import {
  AddMemberSchema, CreateRoomSchema, DirectRoomSchema, PageQuery, RoomRetentionSchema,
  type AddMemberInput, type CreateRoomInput, type PageInput, type RoomRetentionInput,
} from './schemas.js';
import type { RoomsService } from './service.js';

type Params = { id: string };

export interface RoomsRoutesDeps {
  rooms: RoomsService;
  requireAuth: ChatdMiddleware;
}

/** `/api/rooms…`: creating, listing, joining, leaving and managing rooms and their members. */
export function roomsRoutes({ rooms, requireAuth }: RoomsRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();
  const me = (ctx: { state: ChatdState }) => ctx.state.principal!.userId;

  router.post('/api/rooms', requireAuth, validate({ body: CreateRoomSchema }), async (ctx) => {
    const room = await rooms.create(me(ctx), input<CreateRoomInput>(ctx).body);
    ctx.status = 201;
    ctx.body = { success: true, room };
  });

  router.post('/api/rooms/direct', requireAuth, validate({ body: DirectRoomSchema }), async (ctx) => {
    const { room, created } = await rooms.direct(me(ctx), input<{ userId: string }>(ctx).body.userId);
    ctx.status = created ? 201 : 200;
    ctx.body = { success: true, room };
  });

  router.get('/api/rooms', requireAuth, validate({ query: PageQuery }), async (ctx) => {
    ctx.body = { success: true, ...(await rooms.listMine(me(ctx), input<unknown, PageInput>(ctx).query)) };
  });

  // Before /:id, which would otherwise take "public" for an id.
  router.get('/api/rooms/public', requireAuth, validate({ query: PageQuery }), async (ctx) => {
    ctx.body = { success: true, ...(await rooms.listPublic(me(ctx), input<unknown, PageInput>(ctx).query)) };
  });

  router.get('/api/rooms/:id', requireAuth, validate({ params: RoomParams }), async (ctx) => {
    ctx.body = { success: true, room: await rooms.get(me(ctx), input<unknown, unknown, Params>(ctx).params.id) };
  });

  router.patch('/api/rooms/:id', requireAuth, validate({ params: RoomParams, body: RoomRetentionSchema }), async (ctx) => {
    const { body, params } = input<RoomRetentionInput, unknown, Params>(ctx);
    ctx.body = { success: true, room: await rooms.setRetention(me(ctx), params.id, body) };
  });

  router.post('/api/rooms/:id/join', requireAuth, validate({ params: RoomParams }), async (ctx) => {
    const { room, joined } = await rooms.join(me(ctx), input<unknown, unknown, Params>(ctx).params.id);
    ctx.body = { success: true, room, joined };
  });

  router.post('/api/rooms/:id/leave', requireAuth, validate({ params: RoomParams }), async (ctx) => {
    const { room } = await rooms.leave(me(ctx), input<unknown, unknown, Params>(ctx).params.id);
    ctx.body = { success: true, room };
  });

  router.post('/api/rooms/:id/members', requireAuth, validate({ params: RoomParams, body: AddMemberSchema }), async (ctx) => {
    const { body, params } = input<AddMemberInput, unknown, Params>(ctx);
    const { room, added } = await rooms.addMember(me(ctx), params.id, body);
    ctx.status = added ? 201 : 200;
    ctx.body = { success: true, room, added };
  });

  router.get('/api/rooms/:id/members', requireAuth, validate({ params: RoomParams, query: PageQuery }), async (ctx) => {
    const { params, query } = input<unknown, PageInput, Params>(ctx);
    ctx.body = { success: true, ...(await rooms.members(me(ctx), params.id, query)) };
  });

  return router;
}
