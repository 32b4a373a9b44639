import type { ApiKey, AppConfig } from '../config/config';
import type { AppError } from '../lib/errors';

declare global {
  namespace Express {
    interface Request {
      requestId?: string;
      /** The API key the request authenticated with (set by identifyApiKey). */
      apiKey?: ApiKey;
      /** Exact bytes of a JSON body: signatures are computed over them, not over a re-serialisation. */
      rawBody?: Buffer;
      /** true when req.apiKey comes from a dashboard session cookie rather than a header. */
      viaSession?: boolean;
      /** The app an /api/v1 request acts on (middleware/app.ts). */
      pgApp?: AppConfig;
      /** The request named its app, or its key is limited to one: listings that span apps show that app only. */
      appNamed?: boolean;
      /** Why the app the request names cannot be used; refused after authentication. */
      appProblem?: AppError;
    }
  }
}

export {};
