import { describe, expect, it } from 'vitest';
import { PayloadTooLarge } from '../../src/errors.js';
import { decodeFrame, encodeFrame } from '../../src/realtime/codec.js';

const bytes = (text: string) => new TextEncoder().encode(text).buffer as ArrayBuffer;

describe('frame codec', () => {
  it('decodes a frame with event, data and id', () => {
    expect(decodeFrame(bytes('{"event":"send_message","data":{"a":1},"id":"c1"}'), 1024)).toEqual({ event: 'send_message', data: { a: 1 }, id: 'c1' });
  });

  it.each([
    ['not json', 'not valid JSON'],
    ['[1,2]', 'must be a JSON object'],
    ['null', 'must be a JSON object'],
    ['{"data":{}}', 'needs an "event"'],
    ['{"event":42}', 'needs an "event"'],
    ['{"event":"x","id":{"$gt":""}}', '"id" must be'],
  ])('rejects %s', (text, message) => {
    expect(() => decodeFrame(bytes(text), 1024)).toThrow(message);
  });

  it('rejects frames over the limit before parsing them', () => {
    expect(() => decodeFrame(bytes(`{"event":"x","data":"${'a'.repeat(2000)}"}`), 1024)).toThrow(PayloadTooLarge);
  });

  it('rejects invalid UTF-8', () => {
    expect(() => decodeFrame(new Uint8Array([0x7b, 0xff, 0x7d]).buffer, 1024)).toThrow('not valid JSON');
  });

  it('echoes the id only on replies', () => {
    expect(JSON.parse(encodeFrame('new_message', { x: 1 }))).toEqual({ event: 'new_message', data: { x: 1 } });
    expect(JSON.parse(encodeFrame('message_sent', { x: 1 }, 'c9'))).toEqual({ event: 'message_sent', data: { x: 1 }, id: 'c9' });
  });
});
