// Public API of @vigil/test-kit: imported by test/ and bench/ only (a lint rule keeps it so).
export {
  infraEnv,
  isolatedTopic,
  waitUntil,
  readRecords,
  committedOffsets,
  plain,
  recordingMetrics,
  type InfraEnv,
} from '@vigil/kafka/testing';
export {
  repoRoot,
  envWithout,
  runScript,
  runScriptAsync,
  freePort,
  isPortOpen,
  startService,
  stopProcess,
  waitHttpOk,
  waitServiceReady,
  type ScriptResult,
  type ServiceProcess,
  type StartServiceOptions,
} from './processes';
export { silentLogger, errorsToStderr } from './loggers';
export { percentile, summarize, type Summary } from './stats';
export { metricLines, metricSum, histogramQuantile } from './metric-scrape';
export { startFleet, type RunningFleet, type FleetEvent, type FleetOptions } from './fleet-sim';
export { watchTopic, type TopicWatch, type Seen } from './topic-watch';
export { watchLiveness, type LivenessWatch, type SeenTransition } from './liveness-watch';
export { startNotifier, type RunningNotifier } from './notifier-service';
export { WebhookReceiver, type WebhookBody } from './webhook-receiver';
export { startAlertmanager, type RunningAlertmanager } from './alertmanager';
export { startHeartbeat, waitAssigned, type RunningHeartbeat } from './heartbeat-service';
export { connectToInfra, type InfraConnection } from './connect';
export { installSdkFromTarball, installSize, type InstalledSdk } from './sdk-install';
export { treeSnapshot } from './tree-snapshot';
export { startOrchestrator, type RunningOrchestrator } from './orchestrator-service';
export { scrapeTarget, promQuery, type PromSample } from './prometheus';
export { zipkinTrace, showSpan, ancestry, ZIPKIN_TRACING_ENV, type ZipkinSpan } from './zipkin';
export { RecordFuzzer, type FuzzRecord, type FuzzExpectation, type RecordFuzzerOptions } from './record-fuzzer';
export { seededRandom, shuffle } from './seeded-random';
