import type { RequestHandler } from 'express';
import { AppError } from '../../lib/errors';
import { nestsDeeperThan } from '../../lib/json-depth';

/** BAD_REQUEST for a JSON body nested deeper than `max`, before any route admits anything from it. */
export function refuseDeepBodies(max: number): RequestHandler {
  return (req, _res, next) => {
    if (req.body !== undefined && nestsDeeperThan(req.body, max)) {
      return next(new AppError('BAD_REQUEST', `The request body nests arrays and objects deeper than ${max} levels`, { details: [{ field: '(root)', message: `nested deeper than ${max} levels` }] }));
    }
    next();
  };
}
