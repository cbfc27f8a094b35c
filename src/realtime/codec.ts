import { Invalid, PayloadTooLarge } from '../errors.js';

/** A client frame: `{"event": "...", "data": {...}, "id": "c1"}`. */
export interface ClientFrame {
  event: string;
  data: unknown;
  id: string | number | undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes one text frame; throws Invalid or PayloadTooLarge with a message fit for an error frame. */
export function decodeFrame(message: ArrayBuffer, maxBytes: number): ClientFrame {
  if (message.byteLength > maxBytes) throw new PayloadTooLarge(`Frame of ${message.byteLength} bytes exceeds the ${maxBytes}-byte limit`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(message));
  } catch {
    throw new Invalid('Frame is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Invalid('Frame must be a JSON object');
  const { event, data, id } = parsed as Record<string, unknown>;
  if (typeof event !== 'string' || event.length === 0 || event.length > 64) throw new Invalid('Frame needs an "event" string');
  if (id !== undefined && !(typeof id === 'string' && id.length <= 64) && !(typeof id === 'number' && Number.isFinite(id))) {
    throw new Invalid('Frame "id" must be a string of at most 64 characters or a number');
  }
  return { event, data, id: id as ClientFrame['id'] };
}

/**
 * Data already serialised to JSON. A message is stringified once and the same text goes into the
 * sender's `message_sent` and the room's `new_message`, instead of once per frame.
 */
export class EncodedJson {
  /** `parts` holds the JSON text of top-level fields a transport may send on their own (`message`). */
  constructor(
    readonly json: string,
    readonly parts?: Readonly<Record<string, string>>,
  ) {}
}

/** Serialises a server frame; `id` is echoed only on replies. */
export function encodeFrame(event: string, data: unknown, id?: string | number): string {
  if (data instanceof EncodedJson) {
    const head = `{"event":${JSON.stringify(event)},"data":${data.json}`;
    return id === undefined ? `${head}}` : `${head},"id":${JSON.stringify(id)}}`;
  }
  return id === undefined ? JSON.stringify({ event, data }) : JSON.stringify({ event, data, id });
}
