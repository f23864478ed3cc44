package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * The consumer's partition assignors, as the group leader runs them: Kafka's
 * {@code RangeAssignor}, {@code RoundRobinAssignor}, {@code StickyAssignor} and
 * {@code CooperativeStickyAssignor}, through {@code ConsumerPartitionAssignor.assign}.
 *
 * <p>The members go into a {@code HashMap} in the order given, as the leader's
 * {@code ConsumerCoordinator} inserts the JoinGroup response's members, so Kafka's hash order
 * is what it would be. What a member owned reaches each assignor as the real client sends
 * it ({@code ConsumerCoordinator.metadata()}): every subscription carries the member's
 * generation; the eager sticky assignor finds what the member owned in its user data (written
 * by the assignor itself after {@code onAssignment}), the others in the subscription's owned
 * partitions.
 *
 * <p>Case: {"strategy": "range", "partitions_per_topic": {"a": 3}, "members": [{"member_id":
 * "m1", "group_instance_id": null, "topics": ["a"], "owned": [["a", 0]], "generation": 4}]}.
 * Answer: {"assignment": {"m1": [["a", 0], ["a", 1], ["a", 2]]}}, each list sorted.
 */
public final class AssignorOracle extends Oracle {
    public static void main(String[] args) throws Exception {
        new AssignorOracle().run();
    }

    @Override
    Object answer(JsonNode c) {
        String strategy = c.get("strategy").asText();
        ConsumerPartitionAssignor assignor = assignor(strategy);
        Map<String, Subscription> subscriptions = new HashMap<>();
        for (JsonNode m : c.get("members")) {
            subscriptions.put(m.get("member_id").asText(), subscription(strategy, m));
        }
        Map<String, Object> result = new TreeMap<>();
        Map<String, Assignment> assigned =
                assignor.assign(cluster(c.get("partitions_per_topic")), new GroupSubscription(subscriptions))
                        .groupAssignment();
        for (Map.Entry<String, Assignment> e : assigned.entrySet()) {
            List<TopicPartition> partitions = new ArrayList<>(e.getValue().partitions());
            partitions.sort((a, b) -> a.topic().equals(b.topic())
                    ? Integer.compare(a.partition(), b.partition())
                    : a.topic().compareTo(b.topic()));
            List<List<Object>> shown = new ArrayList<>();
            for (TopicPartition tp : partitions) {
                shown.add(List.of(tp.topic(), tp.partition()));
            }
            result.put(e.getKey(), shown);
        }
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("assignment", result);
        return answer;
    }

    private static ConsumerPartitionAssignor assignor(String strategy) {
        switch (strategy) {
            case "range":
                return new RangeAssignor();
            case "roundrobin":
                return new RoundRobinAssignor();
            case "sticky":
                return new StickyAssignor();
            case "cooperative-sticky":
                return new CooperativeStickyAssignor();
            default:
                throw new IllegalArgumentException("unknown strategy " + strategy);
        }
    }

    private static Subscription subscription(String strategy, JsonNode m) {
        List<String> topics = strings(m.get("topics"));
        List<TopicPartition> owned = new ArrayList<>();
        for (JsonNode tp : m.get("owned")) {
            owned.add(new TopicPartition(tp.get(0).asText(), tp.get(1).asInt()));
        }
        JsonNode generationNode = m.get("generation");
        Optional<Integer> generation =
                generationNode.isNull() ? Optional.empty() : Optional.of(generationNode.asInt());
        Subscription subscription;
        if (strategy.equals("sticky")) {
            // The eager sticky assignor reads what a member owned from its own user data.
            ByteBuffer userData = null;
            if (!owned.isEmpty() || generation.isPresent()) {
                StickyAssignor writer = new StickyAssignor();
                writer.onAssignment(
                        new Assignment(owned),
                        new ConsumerGroupMetadata(
                                "group", generation.orElse(-1), "member", Optional.empty()));
                userData = writer.subscriptionUserData(new HashSet<>(topics));
            }
            // As ConsumerCoordinator.metadata() sends it: an eager member has revoked what it
            // owned before it rejoins, so no owned partitions, but the generation it knows.
            subscription = new Subscription(
                    topics, userData, Collections.emptyList(), generation.orElse(-1), Optional.empty());
        } else {
            subscription =
                    new Subscription(topics, null, owned, generation.orElse(-1), Optional.empty());
        }
        JsonNode instance = m.get("group_instance_id");
        subscription.setGroupInstanceId(
                instance.isNull() ? Optional.empty() : Optional.of(instance.asText()));
        return subscription;
    }

    private static Cluster cluster(JsonNode partitionsPerTopic) {
        Node node = new Node(0, "localhost", 9092);
        List<PartitionInfo> partitions = new ArrayList<>();
        partitionsPerTopic.fields().forEachRemaining(e -> {
            for (int p = 0; p < e.getValue().asInt(); p++) {
                partitions.add(new PartitionInfo(
                        e.getKey(), p, node, new Node[] {node}, new Node[] {node}));
            }
        });
        return new Cluster("cluster", List.of(node), partitions, Collections.emptySet(), Collections.emptySet());
    }
}
