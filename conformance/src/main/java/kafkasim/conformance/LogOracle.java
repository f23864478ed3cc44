package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Delayed;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import kafka.log.Cleaner;
import kafka.log.LogCleanerManager;
import kafka.log.LogToClean;
import kafka.log.PreCleanStats;
import kafka.log.UnifiedLog;
import kafka.server.BrokerTopicStats;
import kafka.server.RequestLocal;
import kafka.utils.Pool;
import kafka.utils.Throttler;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.PolicyViolationException;

import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.record.CompressionType;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.Record;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.record.SimpleRecord;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.server.common.MetadataVersion;
import org.apache.kafka.server.util.Scheduler;
import org.apache.kafka.storage.internals.log.AppendOrigin;
import org.apache.kafka.storage.internals.log.LogConfig;
import org.apache.kafka.storage.internals.log.LogDirFailureChannel;
import org.apache.kafka.storage.internals.log.LogSegment;
import org.apache.kafka.storage.internals.log.LogStartOffsetIncrementReason;
import org.apache.kafka.storage.internals.log.ProducerStateManagerConfig;
import org.apache.kafka.storage.internals.log.RecordValidationException;
import org.apache.kafka.storage.internals.log.SkimpyOffsetMap;
import org.apache.kafka.storage.internals.log.VerificationGuard;
import scala.Option;
import scala.Tuple2;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * One replica's log layer: Kafka's own {@code UnifiedLog} on a temporary directory, its
 * retention ({@code UnifiedLog.deleteOldSegments}), its cleaner's choice
 * ({@code LogCleanerManager.grabFilthiestCompactedLog} over a real
 * {@code cleaner-offset-checkpoint}) and one cleaning round ({@code Cleaner.doClean} with a
 * {@code SkimpyOffsetMap}), driven step by step as the {@code kafka-sim log} contract says.
 *
 * <p>A case is the tool's input (config, segments of records with explicit offsets, log start
 * offset, high watermark, cleaner checkpoint, dedupe cap, steps); the answer is the tool's
 * output: after every step the segments (base offset, record offsets, tombstone offsets), the
 * log start offset, the cleaner checkpoint and the log end offset.
 *
 * <p>How the log is built, as Kafka's own tests build logs with gaps
 * ({@code LogCleanerTest.testCleaningBeyondMissingOffsets}): every record is one batch, appended
 * with {@code appendAsFollower} at its own offset; before the first record of every segment
 * after the first, {@code roll(Some(base))}. The build runs with {@code segment.bytes} and
 * {@code segment.ms} at their maximum so that no condition-driven roll adds a segment the case
 * does not have; the case's config is set with {@code updateConfig} afterwards.
 *
 * <p>The file system's clock. An empty segment's {@code largestTimestamp} falls back to its
 * file's modification time, which the OS takes from the wall clock. The oracle makes it the
 * case's clock instead: a segment of the input gets its largest record timestamp (0 when it has
 * no record), a segment written by an append step gets that step's {@code now_ms}, any other
 * segment Kafka creates (a roll, a retention pass that deleted every segment) the clock's time
 * then (the last {@code now_ms} of a step, 0 before any). The cleaner sets its output
 * segments' time itself (the group's last segment's), from those.
 *
 * <p>Nothing runs in the background: the scheduler keeps its tasks (flushes and the delayed
 * deletion of files already renamed {@code .deleted}), and producers never expire.
 */
public final class LogOracle extends Oracle {
    private static final TopicPartition TP = new TopicPartition("orders", 0);
    /** Kafka's {@code log.cleaner.io.buffer.load.factor} default. */
    private static final double LOAD_FACTOR = 0.9;
    /** Kafka's {@code log.cleaner.io.buffer.size} default, over one thread, halved. */
    private static final int IO_BUFFER_BYTES = 512 * 1024 / 2;
    /** Without a cap, a map far larger than any case's keys. */
    private static final int UNCAPPED_MAP_BYTES = 24 * 100_000;

    public static void main(String[] args) throws Exception {
        new LogOracle().run();
    }

    /** A clock the case sets: {@code MockTime}'s job, without Kafka's test jar. */
    static final class CaseClock implements Time {
        long nowMs = 0;

        @Override
        public long milliseconds() {
            return nowMs;
        }

        @Override
        public long nanoseconds() {
            return TimeUnit.MILLISECONDS.toNanos(nowMs);
        }

        @Override
        public void sleep(long ms) {
            nowMs += ms;
        }

        @Override
        public void waitObject(Object obj, Supplier<Boolean> condition, long deadlineMs) {
            if (!condition.get()) {
                throw new IllegalStateException("nothing runs in the background here");
            }
        }
    }

    /** Keeps every task and runs none: no flush thread, no delayed file deletion. */
    static final class IdleScheduler implements Scheduler {
        @Override
        public void startup() {}

        @Override
        public void shutdown() {}

        @Override
        public ScheduledFuture<?> schedule(String name, Runnable task, long delayMs, long periodMs) {
            return new NeverRuns();
        }

        @Override
        public void resizeThreadPool(int newSize) {}
    }

    static final class NeverRuns implements ScheduledFuture<Object> {
        @Override
        public long getDelay(TimeUnit unit) {
            return Long.MAX_VALUE;
        }

        @Override
        public int compareTo(Delayed o) {
            return 0;
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            return true;
        }

        @Override
        public boolean isCancelled() {
            return false;
        }

        @Override
        public boolean isDone() {
            return false;
        }

        @Override
        public Object get() {
            throw new IllegalStateException("never runs");
        }

        @Override
        public Object get(long timeout, TimeUnit unit) {
            throw new IllegalStateException("never runs");
        }
    }

    /** One case's Kafka objects and the file clock's bookkeeping. */
    static final class World {
        final Path parentDir;
        final CaseClock clock = new CaseClock();
        final LogDirFailureChannel failures = new LogDirFailureChannel(10);
        UnifiedLog log;
        LogCleanerManager manager;
        Cleaner cleaner;
        /** Segments whose modification time the oracle (or the cleaner) has set. */
        final Set<LogSegment> timed = Collections.newSetFromMap(new IdentityHashMap<>());

        World(Path parentDir) {
            this.parentDir = parentDir;
        }

        /** Segments Kafka created since the last look get the clock's time. */
        void timeNewSegments() throws IOException {
            for (LogSegment s : log.logSegments()) {
                if (timed.add(s)) {
                    setFileTime(s, clock.nowMs);
                }
            }
        }

        void markAllTimed() {
            timed.addAll(log.logSegments());
        }
    }

    /**
     * The time {@code LogSegment.lastModified} reads: its log file's. (Its index files may not
     * exist yet: Kafka opens them lazily.)
     */
    static void setFileTime(LogSegment segment, long ms) {
        if (!segment.log().file().setLastModified(ms)) {
            throw new IllegalStateException("could not set the time of " + segment.log().file());
        }
    }

    @Override
    Object answer(JsonNode c) throws Exception {
        // In memory when the machine has a tmpfs: the cleaner fsyncs every segment it writes.
        Path shm = Path.of("/dev/shm");
        Path parentDir = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "log-oracle")
                : Files.createTempDirectory("log-oracle");
        World w = new World(parentDir);
        try {
            return answerIn(w, c);
        } catch (Exception e) {
            // LOG_ORACLE_TRACE=1 prints where Kafka refused a case.
            if (System.getenv("LOG_ORACLE_TRACE") != null) {
                e.printStackTrace();
            }
            throw e;
        } finally {
            if (w.log != null) {
                w.log.close();
            }
            deleteTree(parentDir);
        }
    }

    private static Object answerIn(World w, JsonNode c) throws Exception {
        Properties props = topicConfig(c.get("config"));
        LogConfig.validate(props);
        LogConfig config = new LogConfig(props);
        build(w, c, props);
        w.log.updateConfig(config);
        w.manager = new LogCleanerManager(
                scala.jdk.javaapi.CollectionConverters.asScala(List.of(w.parentDir.toFile()))
                        .toSeq(),
                logPool(w.log),
                w.failures);
        if (c.hasNonNull("cleaner_checkpoint")) {
            w.manager.updateCheckpoints(w.parentDir.toFile(),
                    Option.apply(new Tuple2<>(TP, (Object) c.get("cleaner_checkpoint").asLong())),
                    Option.empty());
        }
        w.cleaner = cleaner(w.clock, c.get("dedupe_buffer_keys"));

        List<Object> steps = new ArrayList<>();
        JsonNode stepList = c.get("steps");
        if (stepList != null) {
            for (JsonNode step : stepList) {
                steps.add(step(w, step));
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("steps", steps);
        return out;
    }

    // ---- building the log ----

    private static Properties topicConfig(JsonNode config) {
        Properties props = new Properties();
        if (config != null) {
            config.fields().forEachRemaining(e -> props.put(e.getKey(), e.getValue().asText()));
        }
        return props;
    }

    /** The case's segments, with no condition-driven roll (see the class comment). */
    private static void build(World w, JsonNode c, Properties props) throws Exception {
        Properties building = new Properties();
        building.putAll(props);
        building.put("segment.bytes", String.valueOf(Integer.MAX_VALUE));
        building.put("segment.ms", String.valueOf(Long.MAX_VALUE));
        building.remove("max.compaction.lag.ms");
        building.remove("min.compaction.lag.ms");
        JsonNode segments = c.get("segments");
        long firstBase = segments.get(0).get("base_offset").asLong();
        File dir = w.parentDir.resolve(TP.topic() + "-" + TP.partition()).toFile();
        w.log = UnifiedLog.apply(dir, new LogConfig(building), firstBase, firstBase,
                new IdleScheduler(), new BrokerTopicStats(java.util.Optional.empty()), w.clock,
                900_000, new ProducerStateManagerConfig(86_400_000, false), 600_000, w.failures,
                true, Option.empty(), true, new java.util.concurrent.ConcurrentHashMap<>(), false,
                org.apache.kafka.storage.internals.log.LogOffsetsListener.NO_OP_OFFSETS_LISTENER);
        List<Long> mtimes = new ArrayList<>();
        boolean first = true;
        for (JsonNode segment : segments) {
            long base = segment.get("base_offset").asLong();
            if (!first) {
                w.log.roll(Option.apply((Object) base));
            } else if (w.log.activeSegment().baseOffset() != base) {
                throw new IllegalStateException("the log starts at "
                        + w.log.activeSegment().baseOffset() + ", the case at " + base);
            }
            first = false;
            long largestTimestamp = 0;
            for (JsonNode r : segment.get("records")) {
                w.log.appendAsFollower(batchAt(r));
                largestTimestamp = Math.max(largestTimestamp, r.get("timestamp").asLong());
            }
            mtimes.add(largestTimestamp);
        }
        List<LogSegment> built = new ArrayList<>(w.log.logSegments());
        if (built.size() != segments.size()) {
            throw new IllegalStateException("Kafka built " + built.size() + " segments of the case's "
                    + segments.size());
        }
        for (int i = 0; i < built.size(); i++) {
            setFileTime(built.get(i), mtimes.get(i));
        }
        w.markAllTimed();
        long hw = c.hasNonNull("high_watermark") ? c.get("high_watermark").asLong()
                : w.log.logEndOffset();
        w.log.updateHighWatermark(hw);
        if (c.hasNonNull("log_start_offset")) {
            w.log.maybeIncrementLogStartOffset(c.get("log_start_offset").asLong(),
                    LogStartOffsetIncrementReason.ClientRecordDeletion);
        }
    }

    private static byte[] bytes(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText().getBytes(StandardCharsets.UTF_8);
    }

    /** One record as one v2 batch at its own offset, idempotent when it names a producer. */
    private static MemoryRecords batchAt(JsonNode r) {
        SimpleRecord record = new SimpleRecord(r.get("timestamp").asLong(), bytes(r.get("key")),
                bytes(r.get("value")));
        long offset = r.get("offset").asLong();
        if (r.hasNonNull("producer_id")) {
            int sequence = r.hasNonNull("sequence") ? r.get("sequence").asInt() : 0;
            return MemoryRecords.withRecords(RecordBatch.CURRENT_MAGIC_VALUE, offset,
                    CompressionType.NONE, TimestampType.CREATE_TIME, r.get("producer_id").asLong(),
                    (short) 0, sequence, 0, false, record);
        }
        return MemoryRecords.withRecords(RecordBatch.CURRENT_MAGIC_VALUE, offset,
                CompressionType.NONE, TimestampType.CREATE_TIME, RecordBatch.NO_PRODUCER_ID,
                RecordBatch.NO_PRODUCER_EPOCH, RecordBatch.NO_SEQUENCE, 0, false, record);
    }

    private static Pool<TopicPartition, UnifiedLog> logPool(UnifiedLog log) {
        Pool<TopicPartition, UnifiedLog> pool = new Pool<>(Option.empty());
        pool.put(TP, log);
        return pool;
    }

    /**
     * A cleaner thread's {@code Cleaner}. With a cap of N keys, the map's slots are the fewest
     * for which {@code (int) (slots * 0.9)} is N: {@code buildOffsetMapForSegment} stops at
     * that many entries.
     */
    private static Cleaner cleaner(CaseClock clock, JsonNode cap) throws Exception {
        int memory = UNCAPPED_MAP_BYTES;
        if (cap != null && !cap.isNull()) {
            int keys = cap.asInt();
            int slots = keys;
            while ((int) (slots * LOAD_FACTOR) < keys) {
                slots++;
            }
            if ((int) (slots * LOAD_FACTOR) != keys) {
                throw new IllegalArgumentException("no map holds exactly " + keys + " keys");
            }
            memory = slots * 24;
        }
        SkimpyOffsetMap map = new SkimpyOffsetMap(memory);
        Throttler throttler =
                new Throttler(Double.MAX_VALUE, Long.MAX_VALUE, true, "cleaner-io", "bytes", clock);
        return new Cleaner(0, map, IO_BUFFER_BYTES, 1024 * 1024 * 2, LOAD_FACTOR, throttler, clock,
                new AbstractFunction1<TopicPartition, BoxedUnit>() {
                    @Override
                    public BoxedUnit apply(TopicPartition tp) {
                        return BoxedUnit.UNIT;
                    }
                });
    }

    // ---- the steps ----

    private static Map<String, Object> step(World w, JsonNode step) throws Exception {
        Object selected = null;
        String error = null;
        try {
            if (step.has("clean")) {
                selected = clean(w, step.get("clean"));
            } else if (step.has("retention")) {
                w.clock.nowMs = step.get("retention").get("now_ms").asLong();
                w.log.deleteOldSegments();
                w.timeNewSegments();
            } else if (step.has("append")) {
                append(w, step.get("append"));
            } else if (step.has("roll")) {
                w.log.roll(Option.empty());
                w.timeNewSegments();
            } else if (step.has("set_high_watermark")) {
                w.log.updateHighWatermark(step.get("set_high_watermark").asLong());
            } else if (step.has("delete_records")) {
                deleteRecords(w, step.get("delete_records").get("before_offset").asLong());
            } else {
                throw new IllegalArgumentException("unknown step " + step);
            }
        } catch (RecordValidationException e) {
            error = Errors.forException(e.invalidException()).name();
        } catch (org.apache.kafka.common.errors.ApiException e) {
            error = Errors.forException(e).name();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("selected", selected);
        if (error != null) {
            out.put("error", error);
        }
        out.putAll(state(w));
        return out;
    }

    /**
     * The cleaner at {@code now_ms}: chosen by {@code grabFilthiestCompactedLog}, or on a given
     * range as {@code LogCleanerTest} calls {@code doClean}; either way the checkpoint then
     * holds the round's end offset, as the cleaner thread's {@code doneCleaning} writes it.
     */
    private static Object clean(World w, JsonNode c) throws Exception {
        w.clock.nowMs = c.get("now_ms").asLong();
        Object selected;
        LogToClean cleanable;
        if (c.has("first_dirty")) {
            cleanable = new LogToClean(TP, w.log, c.get("first_dirty").asLong(),
                    c.get("first_uncleanable").asLong(), false);
            Tuple2<Object, ?> round = w.cleaner.doClean(cleanable, w.clock.nowMs);
            w.manager.updateCheckpoints(w.parentDir.toFile(),
                    Option.apply(new Tuple2<>(TP, round._1())), Option.empty());
            selected = null;
        } else {
            Option<LogToClean> chosen = w.manager.grabFilthiestCompactedLog(w.clock,
                    new PreCleanStats());
            selected = chosen.isDefined();
            if (chosen.isDefined()) {
                Tuple2<Object, ?> round = w.cleaner.doClean(chosen.get(), w.clock.nowMs);
                w.manager.doneCleaning(TP, w.parentDir.toFile(), (Long) round._1());
            }
        }
        w.markAllTimed();
        return selected;
    }

    /** One batch of the step's records, appended as the leader, then the HW to the end. */
    private static void append(World w, JsonNode a) throws Exception {
        w.clock.nowMs = a.get("now_ms").asLong();
        List<SimpleRecord> records = new ArrayList<>();
        for (JsonNode r : a.get("records")) {
            records.add(new SimpleRecord(r.get("timestamp").asLong(), bytes(r.get("key")),
                    bytes(r.get("value"))));
        }
        MemoryRecords batch = MemoryRecords.withRecords(RecordBatch.CURRENT_MAGIC_VALUE, 0L,
                CompressionType.NONE, TimestampType.CREATE_TIME,
                records.toArray(new SimpleRecord[0]));
        w.log.appendAsLeader(batch, 0, AppendOrigin.CLIENT, MetadataVersion.IBP_3_7_IV4,
                RequestLocal.NoCaching(), VerificationGuard.SENTINEL);
        setFileTime(w.log.activeSegment(), w.clock.nowMs);
        w.timeNewSegments();
        w.log.updateHighWatermark(w.log.logEndOffset());
    }

    /**
     * The log's part of {@code Partition.deleteRecordsOnLeader}: a policy without delete is
     * refused (that check is the partition's, stated here as Kafka states it), then
     * {@code maybeIncrementLogStartOffset}, which refuses an offset above the HW.
     */
    private static void deleteRecords(World w, long beforeOffset) {
        if (!w.log.config().delete) {
            throw new PolicyViolationException("Records of partition " + TP
                    + " can not be deleted due to the configured policy");
        }
        w.log.maybeIncrementLogStartOffset(beforeOffset,
                LogStartOffsetIncrementReason.ClientRecordDeletion);
    }

    // ---- the answer ----

    private static Map<String, Object> state(World w) {
        List<Object> segments = new ArrayList<>();
        for (LogSegment s : w.log.logSegments()) {
            List<Long> offsets = new ArrayList<>();
            List<Long> tombstones = new ArrayList<>();
            for (RecordBatch batch : s.log().batches()) {
                Iterator<Record> it = batch.iterator();
                while (it.hasNext()) {
                    Record r = it.next();
                    offsets.add(r.offset());
                    if (!r.hasValue()) {
                        tombstones.add(r.offset());
                    }
                }
            }
            Map<String, Object> seg = new LinkedHashMap<>();
            seg.put("base_offset", s.baseOffset());
            seg.put("offsets", offsets);
            seg.put("tombstones", tombstones);
            segments.add(seg);
        }
        Option<Object> checkpoint = w.manager.allCleanerCheckpoints().get(TP);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("segments", segments);
        out.put("log_start_offset", w.log.logStartOffset());
        out.put("cleaner_checkpoint", checkpoint.isDefined() ? checkpoint.get() : null);
        out.put("log_end_offset", w.log.logEndOffset());
        return out;
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }
}
