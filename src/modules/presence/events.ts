import { z } from 'zod';
import { handler, type HubModule } from '../../realtime/types.js';
import type { PresenceService } from './service.js';

const SetStatusEvent = z.strictObject({
  status: z.enum(['online', 'away', 'dnd', 'offline']),
  customStatus: z.string().trim().max(100, 'customStatus must be at most 100 characters').optional(),
});

export interface PresenceEventsDeps {
  presence: PresenceService;
}

/** set_status, and presence following the connections of each user. */
export function presenceEvents({ presence }: PresenceEventsDeps): HubModule {
  return {
    handlers: {
      set_status: handler({
        schema: SetStatusEvent,
        handle: async ({ principal }, { status, customStatus }) => ({ event: 'status_updated', data: await presence.setStatus(principal.userId, status, customStatus) }),
      }),
    },
    onAuthenticated: (conn) => presence.connected(conn.principal!.userId),
    onClose: (conn) => {
      if (conn.principal) presence.disconnected(conn.principal.userId);
    },
  };
}
