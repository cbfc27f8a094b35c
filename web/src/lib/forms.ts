import { ApiError } from './api';

const labels: Record<string, string> = { username: 'Username', email: 'E-mail', password: 'Password', newPassword: 'Password', confirmPassword: 'Confirmation' };

/** Splits a server refusal into messages per field (shown next to each control) and one for the form. */
export function fieldErrors(error: unknown, fields: string[]): { fields: Record<string, string>; form: string } {
  if (!(error instanceof ApiError)) return { fields: {}, form: error instanceof Error ? error.message : 'Something went wrong' };
  const byField: Record<string, string> = {};
  for (const field of fields) {
    const message = error.forField(field);
    if (message) byField[field] = `${labels[field] ?? field} ${message}`;
  }
  return { fields: byField, form: Object.keys(byField).length > 0 ? '' : error.message };
}
