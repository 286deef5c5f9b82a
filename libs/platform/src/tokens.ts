/** Injection tokens for what the platform module provides. */
export const CONFIG = Symbol('vigil.config');
export const LOGGER = Symbol('vigil.logger');
export const METRICS = Symbol('vigil.metrics-registry');
export const HEALTH = Symbol('vigil.health');
export const KAFKA = Symbol('vigil.kafka');
/** The cluster questions (watermarks, committed offsets, cluster id): a KafkaAdminFacade. */
export const KAFKA_ADMIN = Symbol('vigil.kafka-admin');
export const CODEC = Symbol('vigil.schema-codec');
export const PRODUCER = Symbol('vigil.event-producer');
export const REDIS = Symbol('vigil.redis');
export const MEMBERSHIP = Symbol('vigil.group-membership');
