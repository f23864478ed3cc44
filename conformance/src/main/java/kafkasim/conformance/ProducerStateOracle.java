package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.record.CompressionType;
import org.apache.kafka.common.record.MemoryRecords;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.record.SimpleRecord;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.storage.internals.log.AppendOrigin;
import org.apache.kafka.storage.internals.log.BatchMetadata;
import org.apache.kafka.storage.internals.log.ProducerAppendInfo;
import org.apache.kafka.storage.internals.log.ProducerStateManager;
import org.apache.kafka.storage.internals.log.ProducerStateManagerConfig;

/**
 * A leader's producer state: Kafka's {@code ProducerStateManager}, driven the way
 * {@code UnifiedLog.analyzeAndValidateProducerState} drives it for a client's batch (the
 * duplicate check on the producer's last entry first, then {@code prepareUpdate} with
 * {@code AppendOrigin.CLIENT} and {@code ProducerAppendInfo.append}), and rebuilt after a
 * truncation by replaying the log that is left with {@code AppendOrigin.REPLICATION}, as
 * {@code LogLoader.rebuildProducerState} does without a snapshot.
 *
 * <p>Case: {"ops": [{"append": {"producer_id": 1, "epoch": 0, "base_sequence": 0,
 * "records": 2}}, {"truncate_batches": 1}, ...]}. Answer: {"results": ["append@0",
 * "duplicate@0-1", "OUT_OF_ORDER_SEQUENCE_NUMBER", "truncated", ...]}.
 */
public final class ProducerStateOracle extends Oracle {
    private static final TopicPartition TP = new TopicPartition("orders", 0);

    public static void main(String[] args) throws Exception {
        new ProducerStateOracle().run();
    }

    /** One batch in the log: its records as Kafka holds them, and where they start. */
    private record Appended(MemoryRecords records, long firstOffset) {}

    private static ProducerStateManager fresh() throws Exception {
        File dir = Files.createTempDirectory("producer-state").toFile();
        dir.deleteOnExit();
        return new ProducerStateManager(
                TP, dir, 900_000, new ProducerStateManagerConfig(86_400_000, false), Time.SYSTEM);
    }

    private static RecordBatch batchOf(MemoryRecords records) {
        return records.batches().iterator().next();
    }

    private static void note(ProducerStateManager psm, RecordBatch batch, AppendOrigin origin) {
        ProducerAppendInfo info = psm.prepareUpdate(batch.producerId(), origin);
        info.append(batch, Optional.empty());
        psm.update(info);
        psm.updateMapEndOffset(batch.lastOffset() + 1);
    }

    @Override
    Object answer(JsonNode c) throws Exception {
        ProducerStateManager psm = fresh();
        List<Appended> log = new ArrayList<>();
        long logEndOffset = 0;
        List<String> results = new ArrayList<>();
        for (JsonNode op : c.get("ops")) {
            if (op.has("truncate_batches")) {
                int keep = op.get("truncate_batches").asInt();
                while (log.size() > keep) {
                    log.remove(log.size() - 1);
                }
                logEndOffset = log.isEmpty()
                        ? 0
                        : batchOf(log.get(log.size() - 1).records()).lastOffset() + 1;
                psm = fresh();
                for (Appended a : log) {
                    note(psm, batchOf(a.records()), AppendOrigin.REPLICATION);
                }
                results.add("truncated");
                continue;
            }
            JsonNode a = op.get("append");
            long producerId = a.get("producer_id").asLong();
            short epoch = (short) a.get("epoch").asInt();
            int baseSequence = a.get("base_sequence").asInt();
            int count = a.get("records").asInt();
            SimpleRecord[] records = new SimpleRecord[count];
            for (int i = 0; i < count; i++) {
                records[i] = new SimpleRecord(0L, null, ("v" + i).getBytes());
            }
            MemoryRecords built = MemoryRecords.withIdempotentRecords(
                    RecordBatch.CURRENT_MAGIC_VALUE, logEndOffset, CompressionType.NONE,
                    producerId, epoch, baseSequence, 0, records);
            RecordBatch batch = batchOf(built);
            Optional<BatchMetadata> duplicate =
                    psm.lastEntry(producerId).flatMap(e -> e.findDuplicateBatch(batch));
            if (duplicate.isPresent()) {
                results.add("duplicate@" + duplicate.get().firstOffset() + "-"
                        + duplicate.get().lastOffset);
                continue;
            }
            try {
                note(psm, batch, AppendOrigin.CLIENT);
            } catch (OutOfOrderSequenceException e) {
                results.add("OUT_OF_ORDER_SEQUENCE_NUMBER");
                continue;
            } catch (InvalidProducerEpochException e) {
                results.add("INVALID_PRODUCER_EPOCH");
                continue;
            }
            log.add(new Appended(built, logEndOffset));
            results.add("append@" + logEndOffset);
            logEndOffset = batch.lastOffset() + 1;
        }
        return java.util.Map.of("results", results);
    }
}
