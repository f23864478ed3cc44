package kafkasim.conformance.kraft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import kafka.coordinator.transaction.Empty$;
import kafka.coordinator.transaction.Ongoing$;
import kafka.coordinator.transaction.PrepareAbort$;
import kafka.coordinator.transaction.PrepareCommit$;
import kafka.coordinator.transaction.TransactionMetadata;
import kafka.coordinator.transaction.TransactionState;
import kafka.coordinator.transaction.TxnTransitMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.server.common.TransactionVersion;
import scala.Option;
import scala.util.Either;

/**
 * The transaction coordinator's per-id state machine: Kafka's {@code TransactionMetadata}
 * (core, Scala), called as {@code TransactionCoordinator} calls it. InitProducerId is
 * {@code prepareIncrementProducerEpoch} or {@code prepareProducerIdRotation}; AddPartitions
 * {@code prepareAddPartitions} with the client's transaction version; EndTxn
 * {@code prepareAbortOrCommit}, with a new producer id when version 2 bumps an exhausted
 * epoch (as {@code endTransaction}'s {@code generateTxnTransitMetadataForTxnCompletion});
 * the markers' completion {@code prepareComplete}; InitProducerId over an open transaction
 * {@code prepareFenceProducerEpoch} followed by the abort: {@code endTransactionWithTV1}'s at
 * the fenced epoch (the pending fence dropped, the epoch set, the last epoch forgotten) or,
 * under version 2, {@code endTransaction}'s (the pending fence dropped, the epoch bumped by
 * {@code prepareAbortOrCommit});
 * expiration {@code prepareDead}. A write that succeeds is {@code completeTransitionTo} of
 * the last prepared transition; one that fails drops the pending state, as
 * {@code TransactionStateManager.appendTransactionToLog} does, and after a fence's abort
 * under version 0 or 1 sets {@code hasFailedEpochFence}, as {@code endTransactionWithTV1}'s
 * callback does.
 *
 * <p>Case: {"transaction_version": 2, "epoch": -1, "ops": [{"init": {"expected": null,
 * "timeout_ms": 60000}}, {"write": {"ok": true}}, {"add": [0, 1]}, {"end": {"commit":
 * true}}, "complete", "fence_abort", "dead", {"rotate": {"record_last_epoch": true}}]}.
 * Answer: {"steps": ["ok Empty pid=1000 ... | Empty pending=Empty pid=1000 ...", ...]}: per
 * op its outcome ({@code illegal} for an {@code IllegalStateException} or
 * {@code IllegalArgumentException}), the transition it prepared, and the metadata after it.
 */
public final class TxnCoordinatorOracle {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long PRODUCER_ID = 1000;
    private static final long NEW_PRODUCER_IDS = 2000;
    private static final int TIMEOUT_MS = 60_000;

    public static void main(String[] args) throws Exception {
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        BufferedWriter out =
                new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Object answer;
            try {
                answer = answer(JSON.readTree(line));
            } catch (Exception e) {
                Map<String, Object> error = new LinkedHashMap<>();
                error.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
                answer = error;
            }
            out.write(JSON.writeValueAsString(answer));
            out.newLine();
        }
        out.flush();
    }

    /**
     * What one case's ops share: the metadata, the last prepared transition (and whether it
     * is a version 1 fence's abort), the ids.
     */
    private static final class Play {
        TransactionMetadata m;
        TxnTransitMetadata last;
        boolean lastWasFenceAbort;
        long nextId = NEW_PRODUCER_IDS;

        long allocate() {
            return nextId++;
        }
    }

    private static Map<String, Object> answer(JsonNode c) {
        TransactionVersion tv =
                TransactionVersion.fromFeatureLevel((short) c.get("transaction_version").asInt());
        Play p = new Play();
        // As TransactionCoordinator.handleInitProducerId creates the metadata of a new id.
        p.m = new TransactionMetadata("txn", PRODUCER_ID, RecordBatch.NO_PRODUCER_ID,
                RecordBatch.NO_PRODUCER_ID, (short) c.get("epoch").asInt(),
                RecordBatch.NO_PRODUCER_EPOCH, TIMEOUT_MS, Empty$.MODULE$,
                scala.collection.mutable.HashSet$.MODULE$.<TopicPartition>empty(), -1L, 0L,
                TransactionVersion.TV_0);
        List<String> steps = new ArrayList<>();
        int index = 0;
        for (JsonNode op : c.get("ops")) {
            long now = 100 + 10L * index;
            String outcome;
            try {
                outcome = step(p, op, tv, now);
            } catch (IllegalStateException | IllegalArgumentException e) {
                outcome = "illegal";
            }
            steps.add(outcome + " | " + describe(p.m));
            index++;
        }
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("steps", steps);
        return answer;
    }

    private static String step(Play p, JsonNode op, TransactionVersion tv, long now) {
        TransactionMetadata m = p.m;
        TxnTransitMetadata prepared;
        boolean fenceAbort = false;
        String name = op.isTextual() ? op.asText() : op.fieldNames().next();
        JsonNode arg = op.isTextual() ? null : op.get(name);
        switch (name) {
            case "init": {
                Option<Object> expected = arg.get("expected").isNull()
                        ? Option.empty()
                        : Option.apply((Object) (short) arg.get("expected").asInt());
                Either<Errors, TxnTransitMetadata> result = m.prepareIncrementProducerEpoch(
                        arg.get("timeout_ms").asInt(), expected, now);
                if (result.isLeft()) {
                    return result.left().get().name();
                }
                prepared = result.right().get();
                break;
            }
            case "rotate":
                prepared = m.prepareProducerIdRotation(p.allocate(), TIMEOUT_MS, now,
                        arg.get("record_last_epoch").asBoolean());
                break;
            case "add": {
                java.util.Set<TopicPartition> added = new java.util.HashSet<>();
                arg.forEach(n -> added.add(new TopicPartition("t", n.asInt())));
                prepared = m.prepareAddPartitions(immutable(added), now, tv);
                break;
            }
            case "end": {
                TransactionState state = arg.get("commit").asBoolean()
                        ? PrepareCommit$.MODULE$
                        : PrepareAbort$.MODULE$;
                long nextProducerId = tv.supportsEpochBump() && m.isProducerEpochExhausted()
                        ? p.allocate()
                        : RecordBatch.NO_PRODUCER_ID;
                // endTransaction (version 2) aborts from Empty or Complete* with no
                // partition added; from Ongoing it ends the open transaction.
                boolean noPartitionAdded = m.state() != Ongoing$.MODULE$;
                prepared = m.prepareAbortOrCommit(state, tv, nextProducerId, now, noPartitionAdded);
                break;
            }
            case "complete":
                prepared = m.prepareComplete(now);
                break;
            case "fence_abort": {
                TxnTransitMetadata fence = m.prepareFenceProducerEpoch();
                // TransactionCoordinator.endTransaction at the fenced epoch, isFromClient =
                // false, with the coordinator's transaction version: its checks pass for the
                // fence it just prepared, and an Ongoing transaction becomes PrepareAbort in
                // place of the pending fence.
                if (m.producerId() != fence.producerId()) {
                    return Errors.INVALID_PRODUCER_ID_MAPPING.name();
                }
                if (fence.producerEpoch() < m.producerEpoch()) {
                    return Errors.PRODUCER_FENCED.name();
                }
                m.pendingState_$eq(Option.empty());
                if (tv.supportsEpochBump()) {
                    // endTransaction (version 2): prepareAbortOrCommit bumps the epoch.
                    prepared = m.prepareAbortOrCommit(PrepareAbort$.MODULE$, tv,
                            RecordBatch.NO_PRODUCER_ID, now, false);
                } else {
                    // endTransactionWithTV1: the abort is written at the fenced epoch.
                    m.producerEpoch_$eq(fence.producerEpoch());
                    m.lastProducerEpoch_$eq(RecordBatch.NO_PRODUCER_EPOCH);
                    prepared = m.prepareAbortOrCommit(PrepareAbort$.MODULE$,
                            TransactionVersion.fromFeatureLevel((short) 0),
                            RecordBatch.NO_PRODUCER_ID, now, false);
                    // Its callback sets hasFailedEpochFence if this write fails.
                    fenceAbort = true;
                }
                break;
            }
            case "dead":
                prepared = m.prepareDead();
                break;
            case "write": {
                if (p.last == null) {
                    return "nothing";
                }
                if (arg.get("ok").asBoolean()) {
                    m.completeTransitionTo(p.last);
                } else {
                    m.pendingState_$eq(Option.empty());
                    if (p.lastWasFenceAbort) {
                        m.hasFailedEpochFence_$eq(true);
                    }
                }
                return "ok";
            }
            default:
                throw new IllegalArgumentException("unknown op " + name);
        }
        p.last = prepared;
        p.lastWasFenceAbort = fenceAbort;
        return "ok " + describe(prepared);
    }

    @SuppressWarnings("unchecked")
    private static scala.collection.immutable.Set<TopicPartition> immutable(
            java.util.Set<TopicPartition> set) {
        return (scala.collection.immutable.Set<TopicPartition>) (Object)
                scala.jdk.javaapi.CollectionConverters.asScala(set).toSet();
    }

    private static String partitions(scala.collection.Iterable<TopicPartition> set) {
        TreeSet<String> sorted = new TreeSet<>((a, b) -> {
            int ia = Integer.parseInt(a.substring(a.lastIndexOf('-') + 1));
            int ib = Integer.parseInt(b.substring(b.lastIndexOf('-') + 1));
            return a.substring(0, a.lastIndexOf('-')).equals(b.substring(0, b.lastIndexOf('-')))
                    ? Integer.compare(ia, ib)
                    : a.compareTo(b);
        });
        scala.jdk.javaapi.CollectionConverters.asJava(set).forEach(tp -> sorted.add(tp.toString()));
        return "[" + String.join(",", sorted) + "]";
    }

    private static String describe(TxnTransitMetadata t) {
        return t.txnState().name() + " pid=" + t.producerId() + " prev=" + t.prevProducerId()
                + " next=" + t.nextProducerId() + " epoch=" + t.producerEpoch() + " last="
                + t.lastProducerEpoch() + " timeout=" + t.txnTimeoutMs() + " parts="
                + partitions(t.topicPartitions()) + " start=" + t.txnStartTimestamp() + " update="
                + t.txnLastUpdateTimestamp() + " tv=" + t.clientTransactionVersion().featureLevel();
    }

    private static String describe(TransactionMetadata m) {
        String pending = m.pendingState().isDefined() ? m.pendingState().get().name() : "-";
        return m.state().name() + " pending=" + pending + " pid=" + m.producerId() + " prev="
                + m.previousProducerId() + " next=" + m.nextProducerId() + " epoch="
                + m.producerEpoch() + " last=" + m.lastProducerEpoch() + " timeout="
                + m.txnTimeoutMs() + " parts=" + partitions(m.topicPartitions()) + " start="
                + m.txnStartTimestamp() + " update=" + m.txnLastUpdateTimestamp() + " tv="
                + m.clientTransactionVersion().featureLevel() + " failed_fence="
                + m.hasFailedEpochFence();
    }
}
