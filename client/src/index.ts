export { createPushgateClient } from './pushgate-client';
export { PushgateError } from './pushgate-error';
export type {
  AckResponse,
  DrainingPayload,
  EmitOptions,
  ErrorBody,
  JoinResult,
  Offset,
  PresencePayload,
  PushEvents,
  PushgateClient,
  PushgateClientOptions,
  PushHandler,
  PushMeta,
  RecoveredPayload,
  Room,
  ServerEvents,
  Stream,
  StreamRecovery,
  Unsubscribe,
  WelcomePayload,
} from './types';
