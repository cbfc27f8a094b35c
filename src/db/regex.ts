/** Text to match literally inside a `$regex`: a search box's input is never a pattern. */
export const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
