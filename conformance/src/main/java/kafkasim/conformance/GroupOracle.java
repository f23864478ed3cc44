package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.yammer.metrics.core.MetricsRegistry;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.message.HeartbeatRequestData;
import org.apache.kafka.common.message.HeartbeatResponseData;
import org.apache.kafka.common.message.JoinGroupRequestData;
import org.apache.kafka.common.message.JoinGroupRequestData.JoinGroupRequestProtocol;
import org.apache.kafka.common.message.JoinGroupRequestData.JoinGroupRequestProtocolCollection;
import org.apache.kafka.common.message.JoinGroupResponseData;
import org.apache.kafka.common.message.LeaveGroupRequestData;
import org.apache.kafka.common.message.LeaveGroupRequestData.MemberIdentity;
import org.apache.kafka.common.message.LeaveGroupResponseData;
import org.apache.kafka.common.message.OffsetCommitRequestData;
import org.apache.kafka.common.message.OffsetCommitResponseData;
import org.apache.kafka.common.message.SyncGroupRequestData;
import org.apache.kafka.common.message.SyncGroupRequestData.SyncGroupRequestAssignment;
import org.apache.kafka.common.message.SyncGroupResponseData;
import org.apache.kafka.common.metrics.Metrics;
import org.apache.kafka.common.network.ClientInformation;
import org.apache.kafka.common.network.ListenerName;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.record.RecordBatch;
import org.apache.kafka.common.requests.RequestContext;
import org.apache.kafka.common.requests.RequestHeader;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import org.apache.kafka.common.utils.LogContext;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.coordinator.group.GroupCoordinatorConfig;
import org.apache.kafka.coordinator.group.GroupCoordinatorShard;
import org.apache.kafka.coordinator.group.GroupMetadataManager;
import org.apache.kafka.coordinator.group.Record;
import org.apache.kafka.coordinator.group.assignor.RangeAssignor;
import org.apache.kafka.coordinator.group.classic.ClassicGroup;
import org.apache.kafka.coordinator.group.generated.GroupMetadataValue;
import org.apache.kafka.coordinator.group.metrics.GroupCoordinatorMetrics;
import org.apache.kafka.coordinator.group.runtime.CoordinatorResult;
import org.apache.kafka.coordinator.group.runtime.CoordinatorTimer;
import org.apache.kafka.image.MetadataImage;
import org.apache.kafka.timeline.SnapshotRegistry;

/**
 * Kafka's classic consumer-group protocol, driven without a broker: one shard of Kafka's group
 * coordinator ({@code GroupCoordinatorShard} and its {@code GroupMetadataManager}, which keeps
 * {@code ClassicGroup}s) receives a case's JoinGroup, SyncGroup, Heartbeat, LeaveGroup and
 * OffsetCommit requests, timer expiries and append completions, and the answer lists, step by
 * step, the responses that completed and the group as it then is.
 *
 * <p>What a broker would do around the shard is done here, as {@code CoordinatorRuntime} does
 * it: a timer keyed like the runtime's, records replayed into the shard before they are
 * "written", and every write held until the case completes it (successfully or with an
 * error), so a response that waits for its write waits here too. Timers due in the same
 * millisecond fire in an order both sides share (see {@code Timers.nextDue}).
 *
 * <p>Member ids are random ({@code clientId-UUID}); the answer names them symbolically
 * instead: {@code c<client>.<n>} is the n-th member id that client k was handed. The model's
 * side names its ids the same way, so the answers compare.
 */
final class GroupOracle extends Oracle {
    static final String GROUP = "g";
    /** How GroupMetadataManager.classicGroupHeartbeatKey names a member's heartbeat task. */
    static final String HEARTBEAT_KEY = "heartbeat-" + GROUP + "-";

    public static void main(String[] args) throws IOException {
        new GroupOracle().run();
    }

    @Override
    Object answer(JsonNode c) throws Exception {
        return new Play(c).play();
    }

    /** A clock the case moves. */
    static final class Clock implements Time {
        long nowMs;

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
        public void waitObject(Object o, Supplier<Boolean> condition, long deadlineMs) {
            throw new UnsupportedOperationException("the oracle never waits");
        }
    }

    /** What one client knows from its last JoinGroup answers, as a consumer would. */
    static final class Client {
        String memberId = "";
        int generation = -1;
        String protocol = null;
        boolean leader = false;
        List<String> members = List.of();
    }

    /** A write the shard asked for that the case has not completed yet. */
    record PendingWrite(CoordinatorResult<?, Record> result, Runnable onSuccess,
                        java.util.function.Consumer<Throwable> onFailure) {}

    /** One run of a case against a fresh shard. */
    static final class Play {
        final JsonNode c;
        final Clock clock = new Clock();
        final Timers timers = new Timers();
        final GroupCoordinatorShard shard;
        final GroupMetadataManager groups;
        final int joinVersion;
        final Map<Integer, Client> clients = new TreeMap<>();
        final Map<String, String> symbols = new HashMap<>();
        final Map<Integer, Integer> idsHandedOut = new HashMap<>();
        final List<PendingWrite> pending = new ArrayList<>();
        /** Responses of the current action, not yet delivered. */
        final List<Map<String, Object>> responses = new ArrayList<>();
        /** Responses delivered in the current step. */
        List<Map<String, Object>> stepResponses = new ArrayList<>();
        final Map<Map<String, Object>, JoinGroupResponseData> joins = new java.util.IdentityHashMap<>();
        int correlationId = 0;

        Play(JsonNode c) throws Exception {
            this.c = c;
            this.joinVersion = c.get("join_version").asInt();
            GroupCoordinatorConfig config = new GroupCoordinatorConfig(
                1,
                45_000,
                5_000,
                Integer.MAX_VALUE,
                // Assignors of the new protocol (KIP-848); classic groups never use them.
                List.of(new RangeAssignor()),
                100 * 1024 * 1024,
                4096,
                Integer.MAX_VALUE,
                c.get("initial_rebalance_delay_ms").asInt(),
                5 * 60 * 1000,
                c.get("min_session_timeout_ms").asInt(),
                c.get("max_session_timeout_ms").asInt(),
                // The offsets-retention pass (every 10 minutes) would delete empty groups:
                // the model keeps groups, so the cases never reach it.
                Long.MAX_VALUE / 4,
                24L * 60 * 60 * 1000,
                5_000
            );
            shard = new GroupCoordinatorShard.Builder(config)
                .withLogContext(new LogContext())
                .withSnapshotRegistry(new SnapshotRegistry(new LogContext()))
                .withTime(clock)
                .withTimer(timers)
                .withCoordinatorMetrics(new GroupCoordinatorMetrics(new MetricsRegistry(), new Metrics()))
                .withTopicPartition(new TopicPartition("__consumer_offsets", 0))
                .build();
            shard.onLoaded(MetadataImage.EMPTY);
            Field field = GroupCoordinatorShard.class.getDeclaredField("groupMetadataManager");
            field.setAccessible(true);
            groups = (GroupMetadataManager) field.get(shard);
        }

        List<Object> play() {
            List<Object> steps = new ArrayList<>();
            for (JsonNode op : c.get("ops")) {
                step(op);
                flush();
                fireDueTimers(clock.nowMs);
                stepResponses.sort(Comparator
                    .comparing((Map<String, Object> r) -> (Integer) r.get("client"))
                    .thenComparing(r -> (String) r.get("api"))
                    .thenComparing(r -> (Integer) r.get("correlation")));
                stepResponses.forEach(r -> r.remove("correlation"));
                Map<String, Object> step = new LinkedHashMap<>();
                step.put("responses", stepResponses);
                step.put("group", describeGroup());
                steps.add(step);
                stepResponses = new ArrayList<>();
            }
            return steps;
        }

        /**
         * Delivers the responses one action produced (a request, a timer, a completed write):
         * in order of client and request, so that new member ids get their names in the same
         * order on both sides whatever order Kafka's hash maps produced them in.
         */
        void flush() {
            responses.sort(Comparator
                .comparing((Map<String, Object> r) -> (Integer) r.get("client"))
                .thenComparing(r -> (String) r.get("api"))
                .thenComparing(r -> (Integer) r.get("correlation")));
            deliverJoins();
            stepResponses.addAll(responses);
            responses.clear();
        }

        void step(JsonNode op) {
            String kind = op.get("op").asText();
            switch (kind) {
                case "join" -> join(op);
                case "sync" -> sync(op);
                case "heartbeat" -> heartbeat(op);
                case "leave" -> leave(op);
                case "commit" -> commit(op);
                case "advance" -> {
                    long until = clock.nowMs + op.get("ms").asLong();
                    fireDueTimers(until);
                    clock.nowMs = until;
                }
                case "appends" -> completeWrites(op.get("error").isNull() ? null : op.get("error").asText());
                default -> throw new IllegalArgumentException("unknown op " + kind);
            }
        }

        Client client(JsonNode op) {
            return clients.computeIfAbsent(op.get("client").asInt(), k -> new Client());
        }

        String clientId(int client) {
            return "c" + client;
        }

        RequestContext context(ApiKeys api, short version, int client) {
            return new RequestContext(
                new RequestHeader(api, version, clientId(client), ++correlationId),
                "connection-" + client,
                InetAddress.getLoopbackAddress(),
                KafkaPrincipal.ANONYMOUS,
                ListenerName.forSecurityProtocol(SecurityProtocol.PLAINTEXT),
                SecurityProtocol.PLAINTEXT,
                ClientInformation.EMPTY,
                false);
        }

        /** The member id a request names: the client's own, none, or one nobody was given. */
        String memberFor(JsonNode op, Client client) {
            return switch (op.get("member").asText()) {
                case "current" -> client.memberId;
                case "new" -> "";
                case "unknown" -> "someone-else";
                default -> throw new IllegalArgumentException("member " + op.get("member"));
            };
        }

        int generationFor(JsonNode op, Client client) {
            return switch (op.get("generation").asText()) {
                case "current" -> client.generation;
                case "stale" -> client.generation - 1;
                case "none" -> -1;
                default -> throw new IllegalArgumentException("generation " + op.get("generation"));
            };
        }

        void join(JsonNode op) {
            int k = op.get("client").asInt();
            Client client = client(op);
            byte[] metadata = String.join(",", strings(op.get("topics"))).getBytes(StandardCharsets.UTF_8);
            JoinGroupRequestProtocolCollection protocols = new JoinGroupRequestProtocolCollection();
            for (String name : strings(op.get("protocols"))) {
                protocols.add(new JoinGroupRequestProtocol().setName(name).setMetadata(metadata));
            }
            JoinGroupRequestData request = new JoinGroupRequestData()
                .setGroupId(GROUP)
                .setMemberId(memberFor(op, client))
                .setGroupInstanceId(null)
                .setProtocolType("consumer")
                .setProtocols(protocols)
                .setSessionTimeoutMs(op.get("session_timeout_ms").asInt())
                .setRebalanceTimeoutMs(op.get("rebalance_timeout_ms").asInt());
            CompletableFuture<JoinGroupResponseData> future = new CompletableFuture<>();
            RequestContext context = context(ApiKeys.JOIN_GROUP, (short) joinVersion, k);
            int correlation = context.header.correlationId();
            future.whenComplete((r, t) -> joined(k, correlation, client, r, t));
            write(shard.classicGroupJoin(context, request, future), null);
        }

        void joined(int k, int correlation, Client client, JoinGroupResponseData r, Throwable t) {
            Map<String, Object> out = response(k, correlation, "join",
                t != null ? Errors.forException(t) : Errors.forCode(r.errorCode()));
            if (t == null) {
                joins.put(out, r);
            }
            responses.add(out);
        }

        /**
         * The JoinGroup answers of an action reach their clients: first every new member id
         * gets its name, then each answer is rendered and teaches its client its member id,
         * generation and (for the leader) the members.
         */
        void deliverJoins() {
            for (Map<String, Object> out : responses) {
                JoinGroupResponseData r = joins.get(out);
                if (r == null) continue;
                Errors error = Errors.forCode(r.errorCode());
                if (error == Errors.NONE || error == Errors.MEMBER_ID_REQUIRED) {
                    symbolFor((Integer) out.get("client"), r.memberId());
                }
            }
            for (Map<String, Object> out : responses) {
                JoinGroupResponseData r = joins.get(out);
                if (r == null) continue;
                Client client = clients.get((Integer) out.get("client"));
                Errors error = Errors.forCode(r.errorCode());
                if (error == Errors.NONE || error == Errors.MEMBER_ID_REQUIRED) {
                    client.memberId = r.memberId();
                    out.put("member", symbol(r.memberId()));
                }
                if (error == Errors.NONE) {
                    client.generation = r.generationId();
                    client.protocol = r.protocolName();
                    client.leader = r.leader().equals(r.memberId());
                    List<String> members = new ArrayList<>();
                    r.members().forEach(m -> members.add(m.memberId()));
                    client.members = members;
                    out.put("generation", r.generationId());
                    out.put("leader", symbol(r.leader()));
                    out.put("protocol", r.protocolName());
                    List<String> named = new ArrayList<>();
                    members.forEach(m -> named.add(symbol(m)));
                    Collections.sort(named);
                    out.put("members", named);
                }
            }
            joins.clear();
        }

        void sync(JsonNode op) {
            int k = op.get("client").asInt();
            Client client = client(op);
            List<SyncGroupRequestAssignment> assignments = new ArrayList<>();
            if (client.leader && op.get("assign").asBoolean()) {
                List<String> members = new ArrayList<>(client.members);
                members.sort(Comparator.comparing(this::symbol));
                for (int j = 0; j < members.size(); j++) {
                    assignments.add(new SyncGroupRequestAssignment()
                        .setMemberId(members.get(j))
                        .setAssignment(("t-" + j).getBytes(StandardCharsets.UTF_8)));
                }
            }
            SyncGroupRequestData request = new SyncGroupRequestData()
                .setGroupId(GROUP)
                .setGenerationId(generationFor(op, client))
                .setMemberId(client.memberId)
                .setGroupInstanceId(null)
                .setProtocolType("consumer")
                .setProtocolName(client.protocol)
                .setAssignments(assignments);
            RequestContext context = context(ApiKeys.SYNC_GROUP, (short) 5, k);
            int correlation = context.header.correlationId();
            CompletableFuture<SyncGroupResponseData> future = new CompletableFuture<>();
            future.whenComplete((r, t) -> {
                Map<String, Object> out = response(k, correlation, "sync", t != null ? Errors.forException(t) : Errors.forCode(r.errorCode()));
                if (t == null && r.errorCode() == Errors.NONE.code()) {
                    String given = new String(r.assignment(), StandardCharsets.UTF_8);
                    out.put("assignment", given.isEmpty() ? List.of() : List.of(given));
                }
                responses.add(out);
            });
            write(shard.classicGroupSync(context, request, future), null);
        }

        void heartbeat(JsonNode op) {
            int k = op.get("client").asInt();
            Client client = client(op);
            HeartbeatRequestData request = new HeartbeatRequestData()
                .setGroupId(GROUP)
                .setGenerationId(generationFor(op, client))
                .setMemberId(client.memberId);
            RequestContext context = context(ApiKeys.HEARTBEAT, (short) 4, k);
            int correlation = context.header.correlationId();
            Errors error;
            try {
                HeartbeatResponseData r = shard.classicGroupHeartbeat(context, request);
                error = Errors.forCode(r.errorCode());
            } catch (ApiException e) {
                error = Errors.forException(e);
            }
            responses.add(response(k, correlation, "heartbeat", error));
        }

        void leave(JsonNode op) {
            int k = op.get("client").asInt();
            Client client = client(op);
            LeaveGroupRequestData request = new LeaveGroupRequestData()
                .setGroupId(GROUP)
                .setMembers(List.of(new MemberIdentity().setMemberId(client.memberId)));
            RequestContext context = context(ApiKeys.LEAVE_GROUP, (short) 5, k);
            int correlation = context.header.correlationId();
            CoordinatorResult<LeaveGroupResponseData, Record> result;
            try {
                result = shard.classicGroupLeave(context, request);
            } catch (ApiException e) {
                responses.add(response(k, correlation, "leave", Errors.forException(e)));
                return;
            }
            LeaveGroupResponseData r = result.response();
            // One member per request: its own error unless the whole request failed.
            Errors error = Errors.forCode(r.errorCode());
            if (error == Errors.NONE && !r.members().isEmpty()) {
                error = Errors.forCode(r.members().get(0).errorCode());
            }
            // The Scala coordinator answers a LeaveGroup at once; the Java runtime would hold
            // the answer until the group's new (empty) generation is written.
            responses.add(response(k, correlation, "leave", error));
            write(result, null);
        }

        void commit(JsonNode op) {
            int k = op.get("client").asInt();
            Client client = client(op);
            String memberId = op.get("generation").asText().equals("none") ? "" : client.memberId;
            OffsetCommitRequestData request = new OffsetCommitRequestData()
                .setGroupId(GROUP)
                .setGenerationIdOrMemberEpoch(generationFor(op, client))
                .setMemberId(memberId)
                .setTopics(List.of(new OffsetCommitRequestData.OffsetCommitRequestTopic()
                    .setName("t")
                    .setPartitions(List.of(new OffsetCommitRequestData.OffsetCommitRequestPartition()
                        .setPartitionIndex(0)
                        .setCommittedOffset(op.get("offset").asLong())))));
            RequestContext context = context(ApiKeys.OFFSET_COMMIT, (short) 8, k);
            int correlation = context.header.correlationId();
            CoordinatorResult<OffsetCommitResponseData, Record> result;
            try {
                result = shard.commitOffset(context, request);
            } catch (ApiException e) {
                responses.add(response(k, correlation, "commit", Errors.forException(e)));
                return;
            }
            Errors error = Errors.forCode(result.response().topics().get(0).partitions().get(0).errorCode());
            write(result, () -> responses.add(response(k, correlation, "commit", error)),
                t -> responses.add(response(k, correlation, "commit", normalize(t))));
        }

        Map<String, Object> response(int client, int correlation, String api, Errors error) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("client", client);
            out.put("api", api);
            out.put("error", error.name());
            out.put("correlation", correlation);
            return out;
        }

        void write(CoordinatorResult<?, Record> result, Runnable onSuccess) {
            write(result, onSuccess, null);
        }

        /**
         * CoordinatorRuntime's write: replay the records into the shard, then hold them until
         * the case completes the append. A write of nothing answers at once: the Scala
         * coordinator that ZooKeeper-mode brokers run does not hold a LeaveGroup answer back
         * behind an earlier commit's write, as the Java runtime's deferred queue does.
         */
        void write(CoordinatorResult<?, Record> result, Runnable onSuccess,
                   java.util.function.Consumer<Throwable> onFailure) {
            if (result.records().isEmpty()) {
                if (result.appendFuture() != null) result.appendFuture().complete(null);
                if (onSuccess != null) onSuccess.run();
                return;
            }
            if (result.replayRecords()) {
                for (Record record : result.records()) {
                    shard.replay(RecordBatch.NO_PRODUCER_ID, RecordBatch.NO_PRODUCER_EPOCH, record);
                }
            }
            if (isNewGroupBookkeeping(result)) {
                // The Java coordinator writes a brand-new group's empty metadata so its
                // timeline holds the group; the Scala coordinator that ZooKeeper-mode brokers
                // run (and the model follows) writes nothing here. It always succeeds here.
                result.appendFuture().complete(null);
                return;
            }
            pending.add(new PendingWrite(result, onSuccess, onFailure));
        }

        static boolean isNewGroupBookkeeping(CoordinatorResult<?, Record> result) {
            if (result.records().size() != 1 || result.appendFuture() == null) {
                return false;
            }
            Record record = result.records().get(0);
            return record.value() != null
                && record.value().message() instanceof GroupMetadataValue value
                && value.generation() == 0
                && value.members().isEmpty()
                && value.leader() == null;
        }

        void completeWrites(String error) {
            List<PendingWrite> writes = new ArrayList<>(pending);
            pending.clear();
            for (PendingWrite w : writes) {
                if (error == null) {
                    if (w.result().appendFuture() != null) w.result().appendFuture().complete(null);
                    if (w.onSuccess() != null) w.onSuccess().run();
                } else {
                    ApiException failure = Errors.valueOf(error).exception();
                    if (w.result().appendFuture() != null) {
                        w.result().appendFuture().completeExceptionally(failure);
                    }
                    if (w.onFailure() != null) w.onFailure().accept(failure);
                }
                flush();
            }
        }

        /** GroupCoordinatorService.normalizeException: how a failed write reads to clients. */
        static Errors normalize(Throwable t) {
            Errors error = Errors.forException(t);
            return switch (error) {
                case UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT -> Errors.COORDINATOR_NOT_AVAILABLE;
                case NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR -> Errors.NOT_COORDINATOR;
                case MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_FETCH_SIZE -> Errors.UNKNOWN_SERVER_ERROR;
                default -> error;
            };
        }

        void fireDueTimers(long untilMs) {
            while (true) {
                Timers.Scheduled next = timers.nextDue(untilMs);
                if (next == null) {
                    return;
                }
                timers.byKey.remove(next.key());
                clock.nowMs = Math.max(clock.nowMs, next.deadlineMs());
                write(next.operation().generateRecords(), null);
                flush();
            }
        }

        void symbolFor(int client, String memberId) {
            if (!memberId.isEmpty() && !symbols.containsKey(memberId)) {
                int n = idsHandedOut.merge(client, 1, Integer::sum);
                symbols.put(memberId, "c" + client + "." + n);
            }
        }

        String symbol(String memberId) {
            if (memberId == null || memberId.isEmpty()) {
                return "";
            }
            return symbols.getOrDefault(memberId, "?");
        }

        Map<String, Object> describeGroup() {
            Map<String, Object> out = new LinkedHashMap<>();
            ClassicGroup group;
            try {
                group = groups.classicGroup(GROUP, Long.MAX_VALUE);
            } catch (ApiException e) {
                out.put("state", "none");
                return out;
            }
            out.put("state", group.currentState().toString());
            out.put("generation", group.generationId());
            out.put("protocol", group.protocolName().orElse(null));
            out.put("leader", symbol(Optional.ofNullable(group.leaderOrNull()).orElse("")));
            List<String> members = new ArrayList<>();
            group.allMemberIds().forEach(m -> members.add(symbol(m)));
            Collections.sort(members);
            out.put("members", members);
            return out;
        }

        /** CoordinatorRuntime's timer: one operation per key, a new one replaces the old. */
        final class Timers implements CoordinatorTimer<Void, Record> {
            record Scheduled(String key, long deadlineMs, long seq, TimeoutOperation<Void, Record> operation) {}

            final Map<String, Scheduled> byKey = new HashMap<>();
            long nextSeq = 0;

            @Override
            public void schedule(String key, long delay, TimeUnit unit, boolean retry,
                                 TimeoutOperation<Void, Record> operation) {
                schedule(key, delay, unit, retry, 500, operation);
            }

            @Override
            public void schedule(String key, long delay, TimeUnit unit, boolean retry, long retryBackoff,
                                 TimeoutOperation<Void, Record> operation) {
                byKey.put(key, new Scheduled(key, clock.nowMs + unit.toMillis(delay), nextSeq++, operation));
            }

            @Override
            public void cancel(String key) {
                byKey.remove(key);
            }

            /**
             * The next task due by {@code untilMs}. Kafka's timer runs the tasks due in one
             * millisecond in no order it promises; both sides break such ties alike: member
             * heartbeats first, by member name, then the sync deadline, then the join deadline.
             */
            Scheduled nextDue(long untilMs) {
                return byKey.values().stream()
                    .filter(s -> s.deadlineMs() <= untilMs)
                    .min(Comparator.comparingLong(Scheduled::deadlineMs)
                        .thenComparingInt(s -> rank(s.key()))
                        .thenComparing(s -> tieName(s.key()))
                        .thenComparingLong(Scheduled::seq))
                    .orElse(null);
            }

            int rank(String key) {
                if (key.startsWith(HEARTBEAT_KEY)) return 0;
                if (key.startsWith("sync-")) return 1;
                if (key.startsWith("join-")) return 2;
                return 3;
            }

            String tieName(String key) {
                return key.startsWith(HEARTBEAT_KEY) ? symbol(key.substring(HEARTBEAT_KEY.length())) : "";
            }
        }
    }
}
