package kafkasim.conformance.kraft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.DirectoryId;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.metadata.PartitionChangeRecord;
import org.apache.kafka.controller.PartitionChangeBuilder;
import org.apache.kafka.metadata.LeaderRecoveryState;
import org.apache.kafka.metadata.PartitionRegistration;
import org.apache.kafka.server.common.ApiMessageAndVersion;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * The KRaft controller's partition rules: Kafka's {@code PartitionChangeBuilder.build} on one
 * partition registration and the targets set on the builder, then
 * {@code PartitionRegistration.merge} of the record it built.
 *
 * <p>Case: {"mv": "IBP_4_0_IV3", "replicas": [2, 0, 1], "isr": [2, 0], "elr": [1],
 * "last_known_elr": [], "leader": 2, "leader_recovery_state": "RECOVERED", "leader_epoch": 5,
 * "partition_epoch": 9, "acceptable": [0, 1], "min_isr": 2, "election": "ONLINE",
 * "elr_enabled": true, "use_last_known_leader": true, "unclean_shutdown": [],
 * "target_isr": [0] or null, "target_replicas": [...] or null,
 * "target_leader_recovery_state": "RECOVERED" or null}; "leader" -1 for none.
 *
 * <p>Answer: {"record": null, "merged": null} when nothing changes, else "record" with
 * "isr", "leader" (-2 no change, -1 none), "replicas", "elr", "last_known_elr" (each null
 * when unchanged) and "leader_recovery_state" (null for no change), and "merged": the
 * registration after replaying it. The record's directories follow the replicas (every
 * replica's directory is MIGRATING) and are not reported.
 */
public final class PartitionChangeOracle {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Uuid TOPIC = Uuid.fromString("FbrrdcfiR-KC2CPSTHaJrg");

    public static void main(String[] args) throws IOException {
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

    static Object answer(JsonNode c) {
        int[] replicas = array(c.get("replicas"));
        PartitionRegistration partition =
                new PartitionRegistration.Builder()
                        .setReplicas(replicas)
                        .setDirectories(DirectoryId.migratingArray(replicas.length))
                        .setIsr(array(c.get("isr")))
                        .setElr(array(c.get("elr")))
                        .setLastKnownElr(array(c.get("last_known_elr")))
                        .setLeader(c.get("leader").asInt())
                        .setLeaderRecoveryState(recovery(c.get("leader_recovery_state").asText()))
                        .setLeaderEpoch(c.get("leader_epoch").asInt())
                        .setPartitionEpoch(c.get("partition_epoch").asInt())
                        .build();
        Set<Integer> acceptable = new TreeSet<>(ints(c.get("acceptable")));
        PartitionChangeBuilder builder =
                new PartitionChangeBuilder(
                                partition,
                                TOPIC,
                                0,
                                acceptable::contains,
                                MetadataVersion.valueOf(c.get("mv").asText()),
                                c.get("min_isr").asInt())
                        .setElection(
                                PartitionChangeBuilder.Election.valueOf(c.get("election").asText()))
                        .setEligibleLeaderReplicasEnabled(c.get("elr_enabled").asBoolean())
                        .setUseLastKnownLeaderInBalancedRecovery(
                                c.get("use_last_known_leader").asBoolean())
                        .setUncleanShutdownReplicas(ints(c.get("unclean_shutdown")))
                        .setDefaultDirProvider(broker -> DirectoryId.MIGRATING);
        if (!c.get("target_isr").isNull()) {
            builder.setTargetIsr(ints(c.get("target_isr")));
        }
        if (!c.get("target_replicas").isNull()) {
            builder.setTargetReplicas(ints(c.get("target_replicas")));
        }
        if (!c.get("target_leader_recovery_state").isNull()) {
            builder.setTargetLeaderRecoveryState(
                    recovery(c.get("target_leader_recovery_state").asText()));
        }
        Optional<ApiMessageAndVersion> built = builder.build();
        Map<String, Object> answer = new LinkedHashMap<>();
        if (built.isEmpty()) {
            answer.put("record", null);
            answer.put("merged", null);
            return answer;
        }
        PartitionChangeRecord record = (PartitionChangeRecord) built.get().message();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("isr", record.isr());
        r.put("leader", record.leader());
        r.put("replicas", record.replicas());
        r.put("elr", record.eligibleLeaderReplicas());
        r.put("last_known_elr", record.lastKnownElr());
        r.put(
                "leader_recovery_state",
                record.leaderRecoveryState() == LeaderRecoveryState.NO_CHANGE
                        ? null
                        : LeaderRecoveryState.of(record.leaderRecoveryState()).name());
        answer.put("record", r);
        PartitionRegistration merged = partition.merge(record);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("replicas", merged.replicas);
        m.put("isr", merged.isr);
        m.put("elr", merged.elr);
        m.put("last_known_elr", merged.lastKnownElr);
        m.put("leader", merged.leader);
        m.put("leader_recovery_state", merged.leaderRecoveryState.name());
        m.put("leader_epoch", merged.leaderEpoch);
        m.put("partition_epoch", merged.partitionEpoch);
        answer.put("merged", m);
        return answer;
    }

    static LeaderRecoveryState recovery(String name) {
        return LeaderRecoveryState.valueOf(name);
    }

    static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }

    static int[] array(JsonNode node) {
        return ints(node).stream().mapToInt(Integer::intValue).toArray();
    }
}
