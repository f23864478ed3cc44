//! Unit tests of reading the tools' outputs and writing the scenario.

use super::*;

const DESCRIBE_3X: &str = "Topic: orders\tTopicId: 4dS8nGmCSfKZ4sDvNj1zcQ\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: min.insync.replicas=2,retention.ms=604800000,segment.bytes=1073741824\n\
\tTopic: orders\tPartition: 0\tLeader: 101\tReplicas: 101,102,103\tIsr: 101,102,103\n\
\tTopic: orders\tPartition: 1\tLeader: 102\tReplicas: 102,103,101\tIsr: 102,103\n\
\tTopic: orders\tPartition: 2\tLeader: 103\tReplicas: 103,101,102\tIsr: 103,101,102\n\
Topic: audit\tTopicId: x7GkT0XGQeyvQnRrP8w1Lg\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: flush.messages=1,unclean.leader.election.enable=false,cleanup.policy=compact,leader.replication.throttled.replicas=0:101,0:102\n\
\tTopic: audit\tPartition: 0\tLeader: none\tReplicas: 102,101\tIsr: \n\
Topic: __consumer_offsets\tTopicId: a\tPartitionCount: 2\tReplicationFactor: 3\tConfigs: compression.type=producer,cleanup.policy=compact\n\
\tTopic: __consumer_offsets\tPartition: 0\tLeader: 101\tReplicas: 101,102,103\tIsr: 101,102,103\n\
\tTopic: __consumer_offsets\tPartition: 1\tLeader: 102\tReplicas: 102,103,101\tIsr: 102,103,101\n";

const CONFIGS: &str = "All configs for broker 101 are:\n\
  advertised.listeners=null sensitive=false synonyms={}\n\
  zookeeper.session.timeout.ms=18000 sensitive=false synonyms={STATIC_BROKER_CONFIG:zookeeper.session.timeout.ms=18000, DEFAULT_CONFIG:zookeeper.session.timeout.ms=18000}\n\
  unclean.leader.election.enable=false sensitive=false synonyms={DEFAULT_CONFIG:unclean.leader.election.enable=false}\n\
  log.retention.hours=168 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.hours=168}\n\
  replica.lag.time.max.ms=30000 sensitive=false synonyms={DEFAULT_CONFIG:replica.lag.time.max.ms=30000}\n\
  inter.broker.protocol.version=3.7-IV4 sensitive=false synonyms={DEFAULT_CONFIG:inter.broker.protocol.version=3.7-IV4}\n\
  ssl.key.password=null sensitive=true synonyms={}\n\
All configs for broker 102 are:\n\
  zookeeper.session.timeout.ms=18000 sensitive=false synonyms={}\n\
  replica.lag.time.max.ms=10000 sensitive=false synonyms={}\n\
  num.network.threads=3 sensitive=false synonyms={}\n";

fn run(describe: &str, configs: Option<&str>) -> Result<String> {
    import(
        "imported",
        Input {
            file: "describe.txt",
            text: describe,
        },
        configs.map(|text| Input {
            file: "configs.txt",
            text,
        }),
    )
}

#[test]
fn a_kafka_3_describe_becomes_a_scenario() {
    let text = run(DESCRIBE_3X, Some(CONFIGS)).unwrap_or_else(|e| panic!("{e}"));
    let s = Scenario::parse("imported.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(s.cluster.broker_ids(), &[101, 102, 103]);
    assert_eq!(s.topics.len(), 2);
    assert_eq!(s.topics[0].name, "orders");
    assert_eq!(
        s.topics[0].replicas,
        vec![
            vec![101, 102, 103],
            vec![102, 103, 101],
            vec![103, 101, 102]
        ]
    );
    assert_eq!(s.topics[0].config.min_insync_replicas, 2);
    assert_eq!(s.topics[1].replicas, vec![vec![102, 101]]);
    assert_eq!(s.topics[1].config.flush_messages, 1);
    assert_eq!(s.cluster.config.zookeeper_session_timeout_ms, 18_000);
    assert_eq!(s.cluster.config.offsets_topic_num_partitions, 2);
    assert_eq!(s.cluster.config.offsets_topic_replication_factor, 3);
    // The log layer's topic configs are modelled, so they become the topics' config.
    assert!(
        text.contains(r#""retention.ms" = 604800000, "segment.bytes" = 1073741824"#),
        "{text}"
    );
    assert!(text.contains(r#""cleanup.policy" = "compact""#), "{text}");
    // Nothing the simulator does not model is dropped.
    for kept in [
        "#   leader.replication.throttled.replicas = 0:101,0:102",
        "#   log.retention.hours = 168  (broker 101)",
        "#   num.network.threads = 3  (broker 102)",
        "#   advertised.listeners = null  (broker 101)",
        "# brokers disagree on replica.lag.time.max.ms",
        "# __consumer_offsets (2 partitions, replication factor 3)",
        "#   audit-0: leader none, ISR []",
    ] {
        assert!(text.contains(kept), "{kept}\n{text}");
    }
    assert!(
        text.contains("#   ssl.key.password = null  (broker 101)"),
        "{text}"
    );
    assert!(s.producers.is_empty() && s.faults.is_empty());
}

#[test]
fn the_commented_workload_and_faults_load_once_uncommented() {
    let text = run(DESCRIBE_3X, None).unwrap();
    let start = text.find("# A workload and a fault").unwrap();
    let (head, tail) = text.split_at(start);
    let uncommented: String = tail
        .lines()
        .skip(1)
        .map(|l| {
            l.strip_prefix("# ")
                .or_else(|| l.strip_prefix('#'))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let s = Scenario::parse("u.toml", &format!("{head}{uncommented}\n"))
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert_eq!(s.producers.len(), 1);
    assert_eq!(s.consumers.len(), 2);
    assert_eq!(s.faults.len(), 2);
}

#[test]
fn older_formats_and_extra_fields_are_read() {
    // Kafka 2.x: no TopicId; 1.x: no space after the colons; 3.7: Elr fields; spaces
    // instead of tabs, as a terminal copy gives them.
    let describe = "Topic:t1\tPartitionCount:2\tReplicationFactor:2\tConfigs:\n\
\tTopic: t1\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\tOffline: \n\
\tTopic: t1\tPartition: 1\tLeader: -1\tReplicas: 2,1\tIsr: 2\tOffline: 1\n\
Topic: t2\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\
\tTopic: t2\tPartition: 0\tLeader: 3\tReplicas: 3\tIsr: 3\tElr: \tLastKnownElr: \n\
Topic: t3  TopicId: abc  PartitionCount: 1  ReplicationFactor: 2  Configs: min.insync.replicas=1\n\
Topic: t3  Partition: 0  Leader: 2  Replicas: 2,3  Isr: 2,3  Elr: 3  LastKnownElr: 4  Adding Replicas:   Removing Replicas: \n";
    let text = run(describe, None).unwrap_or_else(|e| panic!("{e}"));
    let s = Scenario::parse("x.toml", &text).unwrap();
    assert_eq!(s.cluster.broker_ids(), &[1, 2, 3]);
    assert_eq!(s.topics[0].replicas, vec![vec![1, 2], vec![2, 1]]);
    assert_eq!(s.topics[2].replicas, vec![vec![2, 3]]);
    assert!(text.contains("#   t1-1: leader none, ISR [2]"), "{text}");
}

#[test]
fn bad_input_names_file_and_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
            1,
            "before any topic line",
        ),
        (
            "Topic: t\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
            1,
            "PartitionCount: 2 but 1 partition line(s)",
        ),
        (
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n\tTopic: t\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\nTopic: u\tPartitionCount: 1\tReplicationFactor: 1\n",
            1,
            "PartitionCount: 1 but 2",
        ),
        (
            "Topic: t\tPartitionCount: three\tReplicationFactor: 1\tConfigs: \n",
            1,
            "PartitionCount: `three`",
        ),
        (
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1,x\tIsr: 1\n",
            2,
            "Replicas: `x`",
        ),
        (
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: -4\tIsr: 1\n",
            2,
            "negative",
        ),
        (
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: \n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
            2,
            "ReplicationFactor: 2",
        ),
        (
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n\tTopic: u\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
            2,
            "under the topic line of `t`",
        ),
        (
            "Topic: t\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: min.insync.replicas=0\n\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n",
            1,
            "min.insync.replicas",
        ),
        ("hello world\n", 1, "not a line of"),
        ("", 0, "no broker ids"),
    ];
    for (text, line, message) in cases {
        let e = run(text, None).expect_err(text);
        assert_eq!(e.file, "describe.txt");
        assert_eq!(e.line, *line, "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
    let e = run(DESCRIBE_3X, Some("  a=b sensitive=false\n")).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("configs.txt", 1), "{e}");
    let e = run(
        DESCRIBE_3X,
        Some("All configs for broker 101 are:\n  zookeeper.session.timeout.ms=abc sensitive=false synonyms={}\n"),
    )
    .unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("configs.txt", 2), "{e}");
    let e = run(DESCRIBE_3X, Some("All configs for broker x are:\n")).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("configs.txt", 1), "{e}");
}

#[test]
fn mangled_input_never_panics() {
    for cut in (0..DESCRIBE_3X.len()).step_by(7) {
        if DESCRIBE_3X.is_char_boundary(cut) {
            let _ = run(
                &DESCRIBE_3X[..cut],
                Some(&CONFIGS[..cut.min(CONFIGS.len())]),
            );
        }
    }
    for (from, to) in [
        ("\t", " "),
        (":", ""),
        (",", ",,"),
        ("1", "-1"),
        ("0", "99999999999"),
        ("Topic", "Partition"),
        ("=", ""),
        ("orders", "ör ders"),
    ] {
        let _ = run(
            &DESCRIBE_3X.replace(from, to),
            Some(&CONFIGS.replace(from, to)),
        );
    }
}

#[test]
fn fields_split_on_names_not_on_tabs() {
    assert_eq!(
        fields("\tTopic: a b\tPartition: 0\tAdding Replicas: 1\tReplicas: 2"),
        vec![
            ("Topic", "a b".to_string()),
            ("Partition", "0".to_string()),
            ("Adding Replicas", "1".to_string()),
            ("Replicas", "2".to_string()),
        ]
    );
}
