// Where the benches find @confluentinc/kafka-javascript, and the slice of the KafkaJS-shaped API the
// client anchor uses. It is not a workspace dependency (its native build takes minutes and is only
// measured here): bench/install-rdkafka.sh puts it in .vigil/rdkafka.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot } from '@vigil/test-kit';

const home = () => process.env.VIGIL_HOME ?? path.join(repoRoot, '.vigil');
const packageDir = () => path.join(home(), 'rdkafka', 'node_modules', '@confluentinc', 'kafka-javascript');

/** Whether bench/install-rdkafka.sh has run on this machine. */
export const rdkafkaInstalled = (): boolean => existsSync(path.join(packageDir(), 'package.json'));

export interface AnchorRecord {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  headers?: unknown;
}
export interface AnchorBatch {
  topic: string;
  partition: number;
  messages: AnchorRecord[];
}
interface Send {
  send(args: { topic: string; messages: Omit<AnchorRecord, 'offset'>[] }): Promise<unknown>;
}
export interface AnchorProducer extends Send {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  transaction(): Promise<
    Send & {
      sendOffsets(args: {
        topics: { topic: string; partitions: { partition: number; offset: string }[] }[];
      }): Promise<void>;
      commit(): Promise<void>;
      abort(): Promise<void>;
    }
  >;
}
export interface AnchorConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(topic: string): Promise<void>;
  run(concurrency: number, eachBatch: (batch: AnchorBatch) => Promise<void>): Promise<void>;
}

interface RdkafkaKafka {
  producer(config: Record<string, unknown>): AnchorProducer;
  consumer(config: Record<string, unknown>): {
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    subscribe(args: { topics: string[] }): Promise<void>;
    run(args: {
      partitionsConsumedConcurrently: number;
      eachBatch: (args: { batch: AnchorBatch }) => Promise<void>;
    }): Promise<void>;
  };
}

/** The installed package's exports, or an error naming the install step. */
function loadPackage(): { KafkaJS: RdkafkaFace; librdkafkaVersion: string } {
  if (!rdkafkaInstalled())
    throw new Error(`@confluentinc/kafka-javascript is not in ${packageDir()}: run bash bench/install-rdkafka.sh`);
  return createRequire(path.join(home(), 'rdkafka', 'package.json'))('@confluentinc/kafka-javascript') as {
    KafkaJS: RdkafkaFace;
    librdkafkaVersion: string;
  };
}

interface RdkafkaFace {
  Kafka: new (config: Record<string, unknown>) => RdkafkaKafka;
  logLevel: Record<'ERROR' | 'WARN' | 'INFO', number>;
}

/** The KafkaJS-compatible face of @confluentinc/kafka-javascript. */
export const loadRdkafka = (): RdkafkaFace => loadPackage().KafkaJS;

/** librdkafka's version, for the report. */
export const rdkafkaVersion = (): string => loadPackage().librdkafkaVersion;
