import type { ApiKey } from '../config/config';

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
    }
  }
}

export {};
