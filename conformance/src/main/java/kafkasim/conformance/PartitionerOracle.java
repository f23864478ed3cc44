package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

/**
 * The partition of a keyed record: Kafka's {@code Utils.murmur2} and
 * {@code BuiltInPartitioner.partitionForKey} (the default partitioner's keyed path).
 *
 * <p>Case: {"key_hex": "6b6579", "partitions": 12}. Answer: {"murmur2": -1, "partition": 3}.
 */
public final class PartitionerOracle extends Oracle {
    public static void main(String[] args) throws Exception {
        new PartitionerOracle().run();
    }

    @Override
    Object answer(JsonNode c) {
        byte[] key = HexFormat.of().parseHex(c.get("key_hex").asText());
        int partitions = c.get("partitions").asInt();
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("murmur2", Utils.murmur2(key));
        answer.put("partition", BuiltInPartitioner.partitionForKey(key, partitions));
        return answer;
    }
}
