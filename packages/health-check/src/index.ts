export {
  ActiveHealthChecker,
  type ActiveHealthCheckerOptions,
  type AddTargetOptions,
} from './active-health-checker.js';
export { CustomProbe } from './custom-probe.js';
export {
  HealthProbeError,
  type HealthProbeFailure,
  isHealthProbeError,
} from './health-check-errors.js';
export { HealthCheckLayer, type HealthCheckLayerOptions } from './health-check-layer.js';
export { HealthChecker, type HealthCheckerOptions, type UpstreamHealth } from './health-checker.js';
export type {
  EjectionSkippedEvent,
  HealthChangeEvent,
  HealthChangeReason,
  HealthState,
  ProbeEvent,
} from './health-events.js';
export type { HealthProbe, HealthTarget, Named, ProbeFunction } from './health-probe.js';
export {
  type HealthStatus,
  type HealthStatusFields,
  type HealthThresholds,
  type HealthyStatus,
  initialHealthStatus,
  type ProbeResult,
  recordProbe,
  type UnhealthyStatus,
} from './health-status.js';
export {
  HttpProbe,
  type HttpProbeOptions,
  type HttpProbeTlsOptions,
  type StatusRange,
} from './http-probe.js';
export {
  maxEjectedFor,
  OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierStatus,
} from './outlier-detector.js';
export { TcpProbe, type TcpProbeOptions } from './tcp-probe.js';
