package kafkasim.conformance;

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

/**
 * The loop every oracle shares: one JSON case per line on standard input, one JSON answer per
 * line on standard output, in the same order. A case Kafka's code refuses (it throws) is
 * answered with {"error": "ExceptionClass: message"}, so the refusal itself can be compared.
 */
abstract class Oracle {
    static final ObjectMapper JSON = new ObjectMapper();

    /** Kafka's answer to one case. */
    abstract Object answer(JsonNode c) throws Exception;

    final void run() throws IOException {
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

    static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }

    static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }
}
