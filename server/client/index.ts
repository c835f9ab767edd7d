// ringcast/client: the browser and Node client of ringcast (docs/client.md).
export { RingcastClient } from './client.js';
export type {
  ClientEvents,
  ClientOptions,
  ConnectionState,
  HistoryResult,
  PresenceResult,
  PublishOptions,
  PublishResult,
  StateChange,
} from './client.js';
export { Subscription } from './subscription.js';
export type {
  Member,
  MessageMeta,
  RecoveryInfo,
  SubscribeOptions,
  SubscribeResult,
  SubscriptionEvents,
  SubscriptionState,
  SubscriptionStateChange,
} from './subscription.js';
export { errAction, errRules, type ErrAction, type ErrRule } from './err-codes.js';
export { RingcastError, type ClientErrorCode } from './errors.js';
export { closeAction, closeCodes, closeRules, type CloseAction, type CloseName, type CloseRule } from './close-codes.js';
