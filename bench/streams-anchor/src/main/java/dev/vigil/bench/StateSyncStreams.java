package dev.vigil.bench;

import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * state-sync's job written as a Kafka user would: consume the state-change topic, refuse an event
 * whose id was applied before (dedupe store) or whose version is not newer than the entity's
 * (version store), and emit each accepted change, keyed by entity, to a changelog topic. Both stores
 * are persistent (RocksDB) with their own changelogs, as Streams makes them.
 *
 * <p>The values stay bytes: the Confluent wire format's Avro body is read only as far as the fields
 * the gate needs (eventId, entityId, version), and the accepted record is forwarded unchanged.
 *
 * <p>Usage: StateSyncStreams bootstrap applicationId inputTopic outputTopic guarantee stateDir threads
 */
public final class StateSyncStreams {
  private static final String VERSIONS = "versions";
  private static final String SEEN = "seen-event-ids";

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 7) {
      System.err.println(
          "usage: StateSyncStreams <bootstrap> <application.id> <input> <output> <exactly_once_v2|at_least_once> <state.dir> <threads>");
      System.exit(2);
    }
    Properties props = new Properties();
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[1]);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[4]);
    props.put(StreamsConfig.STATE_DIR_CONFIG, args[5]);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(args[6]));
    props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    // at_least_once commits every 30 s by default: the bench sees progress only through commits, so
    // both guarantees commit every 100 ms here (exactly_once_v2's default).
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(VERSIONS), Serdes.String(), Serdes.Long()));
    builder.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(SEEN), Serdes.String(), Serdes.Long()));
    builder.stream(args[2], Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(DedupeAndGate::new, VERSIONS, SEEN)
        .to(args[3], Produced.with(Serdes.String(), Serdes.ByteArray()));

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("stream thread failed: " + e);
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
          .SHUTDOWN_CLIENT;
    });
    streams.setStateListener((now, before) -> {
      System.out.println("state " + before + " -> " + now);
      if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) stopped.countDown();
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close();
      stopped.countDown();
    }));
    streams.start();
    stopped.await();
  }

  /** Dedupe by event id, then the version gate; forwards the accepted record as it came. */
  static final class DedupeAndGate implements Processor<String, byte[], String, byte[]> {
    private ProcessorContext<String, byte[]> context;
    private KeyValueStore<String, Long> versions;
    private KeyValueStore<String, Long> seen;

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
      this.context = context;
      this.versions = context.getStateStore(VERSIONS);
      this.seen = context.getStateStore(SEEN);
    }

    @Override
    public void process(Record<String, byte[]> record) {
      Fields f = Fields.read(record.value());
      if (f == null) return; // not an event this job understands: state-sync dead-letters it
      if (seen.get(f.eventId) != null) return;
      Long stored = versions.get(f.entityId);
      if (stored != null && f.version <= stored) return;
      versions.put(f.entityId, f.version);
      seen.put(f.eventId, record.timestamp());
      context.forward(record.withValue(f.deleted ? null : record.value()));
    }
  }

  /** The leading fields of a StateChangeEvent (libs/events/src/schemas/state-change-event.avsc.json). */
  static final class Fields {
    String eventId;
    String entityId;
    long version;
    boolean deleted;

    private int pos;
    private byte[] buf;

    static Fields read(byte[] value) {
      if (value == null || value.length < 6 || value[0] != 0) return null;
      Fields f = new Fields();
      f.buf = value;
      f.pos = 5; // magic byte and schema id
      try {
        f.eventId = f.string();
        f.entityId = f.string();
        f.string(); // entityType
        f.string(); // agentId
        f.deleted = f.varlong() == 2; // eventType: created, updated, deleted
        f.version = f.varlong();
        return f;
      } catch (RuntimeException e) {
        return null;
      }
    }

    private long varlong() {
      long raw = 0;
      int shift = 0;
      while (true) {
        byte b = buf[pos++];
        raw |= (long) (b & 0x7f) << shift;
        if ((b & 0x80) == 0) break;
        shift += 7;
      }
      return (raw >>> 1) ^ -(raw & 1); // zig-zag
    }

    private String string() {
      int len = (int) varlong();
      String s = new String(buf, pos, len, StandardCharsets.UTF_8);
      pos += len;
      return s;
    }
  }

  private StateSyncStreams() {}
}
