package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.record.ControlRecordType;
import org.apache.kafka.common.record.EndTransactionMarker;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.storage.internals.log.AbortedTxn;
import org.apache.kafka.storage.internals.log.AppendOrigin;
import org.apache.kafka.storage.internals.log.CompletedTxn;
import org.apache.kafka.storage.internals.log.LogOffsetMetadata;
import org.apache.kafka.storage.internals.log.ProducerAppendInfo;
import org.apache.kafka.storage.internals.log.ProducerStateManager;
import org.apache.kafka.storage.internals.log.ProducerStateManagerConfig;
import org.apache.kafka.storage.internals.log.TransactionIndex;

/**
 * A partition's transactions: Kafka's {@code ProducerStateManager} and
 * {@code ProducerAppendInfo} with one segment's {@code TransactionIndex}, driven the way
 * {@code UnifiedLog.append} drives them for one batch: {@code prepareUpdate}, then
 * {@code appendDataBatch} or {@code appendEndTxnMarker} (a refusal throws and nothing is
 * written), {@code update}, and for a transaction the marker completes
 * {@code lastStableOffset(completedTxn)}, the index entry of an abort
 * ({@code LogSegment.updateTxnIndex}) and {@code completeTxn}. The high watermark is
 * {@code UnifiedLog}'s: never past the log end, told with {@code onHighWatermarkUpdated};
 * the last stable offset is {@code UnifiedLog.lastStableOffset}'s first unstable offset
 * capped by it; a fetch's aborted transactions are {@code collectAbortedTxns}.
 *
 * <p>Data batches come as {@code AppendOrigin.REPLICATION}, which skips the idempotent
 * producer's sequence check (the producer-state oracle compares that); markers as
 * {@code COORDINATOR} or {@code REPLICATION}, as the case says.
 *
 * <p>Case: {"ops": [{"data": {"producer_id": 1, "epoch": 0, "records": 2, "transactional":
 * true}}, {"marker": {"producer_id": 1, "epoch": 0, "coordinator_epoch": 0, "abort": true,
 * "origin": "coordinator"}}, {"high_watermark": 3}, {"collect": {"fetch_offset": 0,
 * "upper_bound_offset": 3}}]}. Answer: {"steps": ["data@0 fuo=0 lso=0", "abort 1 0-2 fuo=0
 * lso=0", "hw=3 fuo=- lso=3", "collect [1:0-2/3] fuo=- lso=3"], "aborted": [[1, 0, 2, 3]]}.
 */
public final class TxnProducerStateOracle extends Oracle {
    private static final TopicPartition TP = new TopicPartition("orders", 0);

    public static void main(String[] args) throws Exception {
        new TxnProducerStateOracle().run();
    }

    @Override
    Object answer(JsonNode c) throws Exception {
        File dir = Files.createTempDirectory("txn-producer-state").toFile();
        File indexFile = new File(dir, "00000000000000000000.txnindex");
        ProducerStateManager psm = new ProducerStateManager(
                TP, dir, 900_000, new ProducerStateManagerConfig(86_400_000, false), Time.SYSTEM);
        TransactionIndex index = new TransactionIndex(0, indexFile);
        try {
            return play(c, psm, index);
        } finally {
            index.close();
            index.deleteIfExists();
            dir.delete();
        }
    }

    private static Map<String, Object> play(JsonNode c, ProducerStateManager psm,
            TransactionIndex index) throws Exception {
        long logEndOffset = 0;
        long highWatermark = 0;
        // Sequences only so the entries' batch metadata is well formed: REPLICATION does
        // not check them.
        Map<Long, Integer> nextSequence = new HashMap<>();
        List<String> steps = new ArrayList<>();
        for (JsonNode op : c.get("ops")) {
            String did;
            if (op.has("data")) {
                JsonNode d = op.get("data");
                long producerId = d.get("producer_id").asLong();
                short epoch = (short) d.get("epoch").asInt();
                int records = d.get("records").asInt();
                int first = nextSequence.getOrDefault(producerId, 0);
                long lastOffset = logEndOffset + records - 1;
                ProducerAppendInfo info = psm.prepareUpdate(producerId, AppendOrigin.REPLICATION);
                try {
                    info.appendDataBatch(epoch, first, first + records - 1, 0L,
                            new LogOffsetMetadata(logEndOffset), lastOffset,
                            d.get("transactional").asBoolean());
                    psm.update(info);
                    psm.updateMapEndOffset(lastOffset + 1);
                    nextSequence.put(producerId, first + records);
                    did = "data@" + logEndOffset;
                    logEndOffset = lastOffset + 1;
                } catch (ApiException e) {
                    did = Errors.forException(e).name();
                }
            } else if (op.has("marker")) {
                JsonNode m = op.get("marker");
                long producerId = m.get("producer_id").asLong();
                AppendOrigin origin = m.get("origin").asText().equals("coordinator")
                        ? AppendOrigin.COORDINATOR
                        : AppendOrigin.REPLICATION;
                EndTransactionMarker marker = new EndTransactionMarker(
                        m.get("abort").asBoolean() ? ControlRecordType.ABORT : ControlRecordType.COMMIT,
                        m.get("coordinator_epoch").asInt());
                ProducerAppendInfo info = psm.prepareUpdate(producerId, origin);
                try {
                    Optional<CompletedTxn> completed = info.appendEndTxnMarker(
                            marker, (short) m.get("epoch").asInt(), logEndOffset, 0L);
                    psm.update(info);
                    psm.updateMapEndOffset(logEndOffset + 1);
                    if (completed.isPresent()) {
                        CompletedTxn t = completed.get();
                        // UnifiedLog.append: the index entry carries the LSO once the
                        // transaction is done (LogSegment.updateTxnIndex), then completeTxn.
                        long lastStableOffset = psm.lastStableOffset(t);
                        if (t.isAborted) {
                            index.append(new AbortedTxn(t, lastStableOffset));
                        }
                        psm.completeTxn(t);
                        did = (t.isAborted ? "abort " : "commit ") + t.producerId + " "
                                + t.firstOffset + "-" + t.lastOffset;
                    } else {
                        did = "marker@" + logEndOffset;
                    }
                    logEndOffset += 1;
                } catch (ApiException e) {
                    did = Errors.forException(e).name();
                }
            } else if (op.has("high_watermark")) {
                // UnifiedLog.updateHighWatermark keeps it within the log; it only moves up
                // here, as maybeIncrementHighWatermark moves it.
                highWatermark = Math.min(Math.max(op.get("high_watermark").asLong(), highWatermark),
                        logEndOffset);
                psm.onHighWatermarkUpdated(highWatermark);
                did = "hw=" + highWatermark;
            } else {
                JsonNode f = op.get("collect");
                List<String> found = new ArrayList<>();
                for (AbortedTxn t : index.collectAbortedTxns(f.get("fetch_offset").asLong(),
                        f.get("upper_bound_offset").asLong()).abortedTransactions) {
                    found.add(t.producerId() + ":" + t.firstOffset() + "-" + t.lastOffset() + "/"
                            + t.lastStableOffset());
                }
                did = "collect [" + String.join(" ", found) + "]";
            }
            Optional<LogOffsetMetadata> firstUnstable = psm.firstUnstableOffset();
            // UnifiedLog.lastStableOffset.
            long hw = highWatermark;
            long lastStableOffset = firstUnstable
                    .filter(o -> o.messageOffset < hw)
                    .map(o -> o.messageOffset)
                    .orElse(hw);
            steps.add(did + " fuo=" + firstUnstable.map(o -> Long.toString(o.messageOffset)).orElse("-")
                    + " lso=" + lastStableOffset);
        }
        List<long[]> aborted = new ArrayList<>();
        for (AbortedTxn t : index.allAbortedTxns()) {
            aborted.add(new long[] {t.producerId(), t.firstOffset(), t.lastOffset(), t.lastStableOffset()});
        }
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("steps", steps);
        answer.put("aborted", aborted);
        return answer;
    }
}
