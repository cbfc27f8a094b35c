import Router from '@koa/router';
import type { ChatdMiddleware, ChatdState } from '../../http/context.js';
import { input, validate } from '../../http/validate.js';
import { presentMessage } from './presenter.js';
import { HistoryQuery, SendMessageSchema, type HistoryInput, type SendMessageInput } from './schemas.js';
import type { MessagesService } from './service.js';

export interface MessagesRoutesDeps {
  messages: MessagesService;
  requireAuth: ChatdMiddleware;
}

/** GET /api/messages (history) and POST /api/messages (send, the same service call as the hub's send_message). */
export function messagesRoutes({ messages, requireAuth }: MessagesRoutesDeps): Router<ChatdState> {
  const router = new Router<ChatdState>();

  router.get('/api/messages', requireAuth, validate({ query: HistoryQuery }), async (ctx) => {
    const { query } = input<unknown, HistoryInput>(ctx);
    const result = await messages.history(ctx.state.principal!.userId, query);
    ctx.body = {
      success: true,
      messages: result.messages.map(presentMessage),
      page: result.page,
      hasMore: result.hasMore,
      ...(result.updated ? { updated: result.updated.map(presentMessage), updatesTruncated: result.updatesTruncated } : {}),
      ...(result.cursorUnknown ? { cursorUnknown: true } : {}),
    };
  });

  router.post('/api/messages', requireAuth, validate({ body: SendMessageSchema }), async (ctx) => {
    const { body } = input<SendMessageInput>(ctx);
    const { doc, created } = await messages.send(ctx.state.principal!.userId, body);
    // 201 for a new message; a retry with the same clientMsgId gets the stored one with 200.
    ctx.status = created ? 201 : 200;
    ctx.body = { success: true, message: presentMessage(doc) };
  });

  return router;
}
