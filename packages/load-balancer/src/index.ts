export {
  type AvailabilityCheck,
  type AvailabilityHook,
  type AvailabilitySource,
} from './availability.js';
export {
  BALANCER_POLICIES,
  type BalancerByNameOptions,
  type BalancerPolicy,
  balancerByName,
} from './balancer-by-name.js';
export {
  type ChangeEvent,
  type ChangeType,
  type NoUpstreamEvent,
  type PanicEvent,
  type PanicReason,
} from './balancer-events.js';
export { ConsistentHashBalancer, type ConsistentHashOptions } from './consistent-hash.js';
export { type HashKey, hashKey, murmur3 } from './hash.js';
export {
  LoadBalancerLayer,
  type LoadBalancerLayerOptions,
  UPSTREAM,
  upstreamOf,
} from './load-balancer-layer.js';
export { type LoadBalancer, LoadBalancerBase, type LoadBalancerOptions } from './load-balancer.js';
export { Maglev, type MaglevOptions } from './maglev.js';
export { PeakEwma, type PeakEwmaOptions } from './peak-ewma.js';
export { PowerOfTwoChoices } from './power-of-two-choices.js';
export { type RandomSource, seededRandom } from './random-source.js';
export { Random } from './random.js';
export { RingHash, type RingHashOptions } from './ring-hash.js';
export { RoundRobin } from './round-robin.js';
export type { SlowStartOptions } from './slow-start.js';
export { TwoChoiceBalancer } from './two-choices.js';
export { UpstreamEntry, type UpstreamEntrySnapshot, type UpstreamLike } from './upstream-entry.js';
export { WeightedLeastConn } from './weighted-least-conn.js';
