package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import kafka.api.LeaderAndIsr;
import kafka.cluster.Broker;
import kafka.cluster.EndPoint;
import kafka.controller.ControllerContext;
import kafka.controller.Election;
import kafka.controller.ElectionResult;
import kafka.controller.ReplicaAssignment;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.network.ListenerName;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import scala.Option;
import scala.Tuple2;
import scala.Tuple3;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The ZooKeeper-mode controller's elections. {@code "kind": "offline"}: a partition without a
 * live leader, Kafka's {@code Election.leaderForOffline}, which asks
 * {@code PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection} for the leader and
 * keeps the ISR's live members (or the unclean leader alone). {@code "kind": "preferred"}: the
 * leader-imbalance check's {@code Election.leaderForPreferredReplica}, which asks
 * {@code preferredReplicaPartitionLeaderElection} and keeps the ISR.
 *
 * <p>Case: {"kind": "offline", "assignment": [2, 0, 1], "leader": 2, "isr": [2, 0], "live":
 * [0, 1], "unclean": false}; "leader" is the current (for "offline", dead) leader, or -1 for
 * none. Answer: {"leader": 0, "isr": [0]}, or {"leader": null, "isr": null} when nobody is
 * elected.
 */
public final class ElectionOracle extends Oracle {
    public static void main(String[] args) throws Exception {
        new ElectionOracle().run();
    }

    @Override
    Object answer(JsonNode c) {
        TopicPartition tp = new TopicPartition("t", 0);
        List<Integer> assignment = ints(c.get("assignment"));
        ControllerContext context = new ControllerContext();
        context.updatePartitionFullReplicaAssignment(tp, ReplicaAssignment.apply(seq(assignment)));
        Map<Broker, Object> live = new LinkedHashMap<>();
        for (int id : ints(c.get("live"))) {
            EndPoint endPoint =
                    new EndPoint(
                            "localhost",
                            9092 + id,
                            ListenerName.forSecurityProtocol(SecurityProtocol.PLAINTEXT),
                            SecurityProtocol.PLAINTEXT);
            live.put(Broker.apply(id, seq(List.of(endPoint)), Option.empty()), 0L);
        }
        context.setLiveBrokers(CollectionConverters.asScala(live));
        LeaderAndIsr current =
                LeaderAndIsr.apply(c.get("leader").asInt(), list(ints(c.get("isr"))));
        Tuple3<TopicPartition, Option<LeaderAndIsr>, Object> partition =
                new Tuple3<>(tp, Option.apply(current), c.get("unclean").asBoolean());
        List<ElectionResult> results =
                "preferred".equals(c.get("kind").asText())
                        ? CollectionConverters.asJava(
                                Election.leaderForPreferredReplica(
                                        context, seq(List.of(new Tuple2<>(tp, current)))))
                        : CollectionConverters.asJava(
                                Election.leaderForOffline(context, true, seq(List.of(partition))));
        Map<String, Object> answer = new LinkedHashMap<>();
        Option<LeaderAndIsr> elected = results.get(0).leaderAndIsr();
        if (elected.isDefined()) {
            answer.put("leader", elected.get().leader());
            List<Integer> isr = new ArrayList<>();
            CollectionConverters.asJava(elected.get().isr()).forEach(r -> isr.add((Integer) r));
            answer.put("isr", isr);
        } else {
            answer.put("leader", null);
            answer.put("isr", null);
        }
        return answer;
    }

    /** A Scala list of `items`; Scala's `Seq[Int]` is a `Seq<Object>` of boxed ints in Java. */
    @SuppressWarnings("unchecked")
    private static <T> scala.collection.immutable.List<T> list(List<?> items) {
        return (scala.collection.immutable.List<T>) CollectionConverters.asScala(items).toList();
    }

    private static <T> scala.collection.immutable.Seq<T> seq(List<?> items) {
        return list(items);
    }
}
