import { describe, expect, it } from 'vitest';
import { sanitizeFileName } from '../../src/modules/files/service.js';
import { emoji, MessageRef, SendMessageSchema } from '../../src/modules/messages/schemas.js';

describe('emoji', () => {
  it.each(['👍', '👍🏽', '👨‍👩‍👧', '🇫🇷', '1️⃣', '❤️'])('accepts %s', (value) => {
    expect(emoji.safeParse(value).success).toBe(true);
  });

  it.each(['a', '👍👍', '<b>', '', ' 👍', 'x'.repeat(40)])('refuses %j', (value) => {
    expect(emoji.safeParse(value).success).toBe(false);
  });

  it('gives a text-style symbol its emoji presentation', () => {
    expect(emoji.parse('❤')).toBe('❤️');
  });
});

describe('message input', () => {
  it('accepts a bare id or {messageId} and lower-cases ids', () => {
    expect(MessageRef.parse('ABCDEF0123456789ABCDEF01')).toBe('abcdef0123456789abcdef01');
    expect(MessageRef.parse({ messageId: 'abcdef0123456789abcdef01' })).toBe('abcdef0123456789abcdef01');
    expect(MessageRef.safeParse({ messageId: { $gt: '' } }).success).toBe(false);
    expect(MessageRef.safeParse({ messageId: 'abcdef0123456789abcdef01', extra: 1 }).success).toBe(false);
  });

  it('trims content and bounds it to 10 000 characters', () => {
    const roomId = 'abcdef0123456789abcdef01';
    expect(SendMessageSchema.parse({ roomId, content: '  hi  ' }).content).toBe('hi');
    expect(SendMessageSchema.safeParse({ roomId, content: ' \n\t ' }).success).toBe(false);
    expect(SendMessageSchema.safeParse({ roomId, content: 'x'.repeat(10_001) }).success).toBe(false);
  });
});

describe('file names', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\windows\\system.ini', 'system.ini'],
    ['.hidden', 'hidden'],
    ['a\u0000b\nc.txt', 'abc.txt'],
    ['"quoted"<>|?*.png', 'quoted.png'],
    ['', 'file'],
    [null, 'file'],
    ['../', 'file'],
    ['invoice\u202Egpj.exe', 'invoicegpj.exe'],
    ['\u2067report\u2069\u200B.pdf', 'report.pdf'],
    ['line\u2028break\u2029.txt', 'linebreak.txt'],
    ['\uFEFFbom\u200D\u200E\u061C.txt', 'bom.txt'],
    ['\u0085next\u009Bcsi.txt', 'nextcsi.txt'],
    ['résumé 2024 — 日本.pdf', 'résumé 2024 — 日本.pdf'],
  ])('%j becomes %j', (input, expected) => {
    expect(sanitizeFileName(input)).toBe(expected);
  });
});
