import { createHash } from 'node:crypto';

const palette = ['#1abc9c', '#2e86de', '#8e44ad', '#e67e22', '#e74c3c', '#16a085', '#2c3e50', '#d35400', '#27ae60', '#c0392b'];

/** Up to two letters or digits from a username: "jane_doe" → "JD", "bob" → "BO". */
export function initialsOf(username: string): string {
  const words = username.split(/[^\p{L}\p{Nd}]+/u).filter(Boolean);
  const letters = words.length >= 2 ? words[0]![0]! + words[1]![0]! : (words[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

const escapeXml = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A 128×128 SVG: the user's initials on a colour derived from their id. */
export function avatarSvg(userId: string, username: string): string {
  const colour = palette[createHash('sha256').update(userId).digest()[0]! % palette.length];
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">',
    `<rect width="128" height="128" rx="64" fill="${colour}"/>`,
    '<text x="64" y="64" dy=".35em" text-anchor="middle" font-family="system-ui,sans-serif" font-size="52" font-weight="600" fill="#fff">',
    escapeXml(initialsOf(username)),
    '</text></svg>',
  ].join('');
}

/**
 * The default avatar of a user: chatd's generated image, as a path on the API's own origin. Kept
 * relative so that a changed PUBLIC_URL (or none set, as in a bare `docker run` on a LAN) never
 * leaves stored links pointing at the wrong host.
 */
export function defaultAvatarPath(userId: string): string {
  return `/api/users/${userId}/avatar`;
}
