import type { z } from 'zod';
import { Invalid } from '../errors.js';
import type { ChatdContext, ChatdMiddleware } from './context.js';

export interface InputSchemas {
  body?: z.ZodType;
  query?: z.ZodType;
  params?: z.ZodType;
}

/** Details of a zod failure as the envelope lists them: one entry per field. */
export function zodDetails(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(root)', message: issue.message }));
}

/** Parses input with `schema` or throws VALIDATION_FAILED naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const details = zodDetails(parsed.error);
    throw new Invalid(`Invalid ${what}: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details);
  }
  return parsed.data;
}

/**
 * Validates body, query and route params before the handler runs; the handler reads only
 * `ctx.state.input`, so nothing unvalidated can reach a query or a document.
 */
export function validate(schemas: InputSchemas): ChatdMiddleware {
  return async (ctx: ChatdContext, next) => {
    ctx.state.input = {
      body: schemas.body ? parseInput(schemas.body, (ctx.request as { body?: unknown }).body ?? {}, 'request body') : undefined,
      query: schemas.query ? parseInput(schemas.query, { ...ctx.query }, 'query') : undefined,
      params: schemas.params ? parseInput(schemas.params, { ...(ctx as unknown as { params: object }).params }, 'path') : undefined,
    };
    await next();
  };
}

/** Typed access to what `validate` parsed. */
export function input<B = unknown, Q = unknown, P = unknown>(ctx: ChatdContext): { body: B; query: Q; params: P } {
  return ctx.state.input as { body: B; query: Q; params: P };
}
