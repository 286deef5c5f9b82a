/**
 * Kafka record header names that are part of the contract: consumers of Vigil's topics may read
 * them, so they change only as the schemas do (additively). Trace context travels in the W3C
 * headers (`traceparent`, `tracestate`, `baggage`) that OpenTelemetry's propagator writes.
 */
export const RecordHeaderNames = {
  /** On the changelog: the entity version a record (or tombstone) carries, as a decimal string. */
  version: 'vigil-version',
  /** On the changelog: the event id of the accepted change, so a tombstone still names its event. */
  eventId: 'vigil-event-id',
  /** On the changelog: the agent that published the change (a tombstone has no body to say it). */
  agentId: 'vigil-agent-id',
} as const;

/** What each contract header carries, as the AsyncAPI document states it. */
export const RecordHeaderMeanings: Record<keyof typeof RecordHeaderNames, string> = {
  version: 'The entity version the record (or tombstone) carries, as a decimal string.',
  eventId: 'The event id of the accepted change, so that a tombstone still names its event.',
  agentId: 'The agent that published the change (a tombstone has no body to say it).',
};
