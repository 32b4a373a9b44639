import type { z } from 'zod';
import { badRequest } from '../lib/errors';

/** Parses with a zod schema; failures become BAD_REQUEST with one detail per field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what = 'request body'): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw badRequest(`The ${what} is invalid`, result.error.issues);
  return result.data;
}
