//! The transactional producer: adding partitions before a transaction's first batch,
//! committing after every acknowledgement, the application's aborts, the retriable, fatal
//! and abortable errors (after Kafka's `TransactionManagerTest`).

use super::*;
use crate::coordinator::transaction::TransactionVersion;
use crate::event::AbortReason;

/// A transactional producer `p` (transactional id `tx`) of `records` records at `rate` per
/// second, `per_transaction` to a transaction, aborting every `abort_every`-th, to the one
/// partition `orders-0`.
fn transactional(
    records: u64,
    rate_per_sec: f64,
    per_transaction: u32,
    abort_every: u32,
    linger_ms: u64,
) -> Producer {
    let config = ProducerConfig {
        enable_idempotence: true,
        transactional_id: Some("tx".into()),
        linger_ms,
        ..ProducerConfig::default()
    };
    Producer::new(ProducerSettings {
        records,
        rate_per_sec,
        config: config.clone(),
        transactions: TransactionWorkload {
            records_per_transaction: per_transaction,
            abort_every,
        },
        ..settings(config)
    })
}

/// The one message of `out` that `pick` takes, with where it went.
fn sent_one<T>(out: &Output<ProducerTimer>, pick: impl Fn(&Message) -> Option<T>) -> (NodeId, T) {
    let mut found: Vec<(NodeId, T)> = out
        .messages
        .iter()
        .filter_map(|(to, m)| pick(m).map(|t| (*to, t)))
        .collect();
    assert_eq!(found.len(), 1, "one such message in {:?}", out.messages);
    found.pop().expect("one")
}

fn none_sent(out: &Output<ProducerTimer>, pick: impl Fn(&Message) -> bool) -> bool {
    !out.messages.iter().any(|(_, m)| pick(m))
}

fn is_produce(m: &Message) -> bool {
    matches!(m, Message::Produce(_))
}

fn end_txn(m: &Message) -> Option<EndTxnRequest> {
    match m {
        Message::EndTxn(r) => Some(r.clone()),
        _ => None,
    }
}

fn add_partitions(m: &Message) -> Option<AddPartitionsToTxnRequest> {
    match m {
        Message::AddPartitionsToTxn(r) => Some(r.clone()),
        _ => None,
    }
}

fn init_producer_id(m: &Message) -> Option<InitProducerIdRequest> {
    match m {
        Message::InitProducerId(r) => Some(r.clone()),
        _ => None,
    }
}

const COORDINATOR: NodeId = NodeId::Broker(2);

/// Starts `p` at t=0 and takes it through `initTransactions()`: FindCoordinator (key type
/// Transaction) to a bootstrap broker, then, after the backoff of a request that first had
/// to find its coordinator, InitProducerId with the transactional id to the coordinator,
/// answered with producer id 4000, epoch 0. Returns the time reached.
fn init_transactions(p: &mut Producer) -> u64 {
    let mut out = Output::default();
    p.start(0, &mut out);
    let (_, find) = sent_one(&out, |m| match m {
        Message::FindCoordinator(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(
        (find.key_type, find.key.as_str()),
        (CoordinatorType::Transaction, "tx")
    );
    assert!(none_sent(&out, |m| init_producer_id(m).is_some()));
    answer_metadata(p, 0, metadata(&[(0, Some(1), 0)]));
    let mut out = Output::default();
    p.on_message(
        1,
        NodeId::Broker(0),
        Message::FindCoordinatorResponse(FindCoordinatorResponse {
            correlation_id: find.correlation_id,
            error: ErrorCode::None,
            coordinator: Some(2),
        }),
        &mut out,
    );
    assert!(
        none_sent(&out, |m| init_producer_id(m).is_some()),
        "backoff"
    );
    let mut out = Output::default();
    p.on_timer(101, ProducerTimer::TxnRetry, &mut out);
    let (to, init) = sent_one(&out, init_producer_id);
    assert_eq!(to, COORDINATOR);
    assert_eq!(init.transactional_id.as_deref(), Some("tx"));
    assert_eq!((init.producer_id, init.producer_epoch), (-1, -1));
    assert_eq!(init.transaction_timeout_ms, 60_000);
    let mut out = Output::default();
    p.on_message(
        102,
        COORDINATOR,
        init_answer(init.correlation_id, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionsInitialized {
            producer_id: 4000,
            producer_epoch: 0,
            epoch_bump: false,
            ..
        }
    )));
    102
}

fn init_answer(correlation_id: u64, error: ErrorCode) -> Message {
    Message::InitProducerIdResponse(InitProducerIdResponse {
        correlation_id,
        error,
        producer_id: 4000,
        producer_epoch: 0,
    })
}

fn add_partitions_answer(request: &AddPartitionsToTxnRequest, error: ErrorCode) -> Message {
    Message::AddPartitionsToTxnResponse(AddPartitionsToTxnResponse {
        correlation_id: request.correlation_id,
        results: request
            .partitions
            .iter()
            .map(|tp| (tp.clone(), error))
            .collect(),
    })
}

fn end_txn_answer(request: &EndTxnRequest, error: ErrorCode) -> Message {
    Message::EndTxnResponse(EndTxnResponse {
        correlation_id: request.correlation_id,
        error,
        producer_id: -1,
        producer_epoch: -1,
    })
}

/// The transaction of the events of `out` of this kind, in order.
fn transactions_of(out: &Output<ProducerTimer>, kind: &str) -> Vec<Option<TransactionRef>> {
    out.events
        .iter()
        .filter(|e| e.kind() == kind)
        .map(|e| match e {
            Event::RecordSent { transaction, .. }
            | Event::Acknowledged { transaction, .. }
            | Event::ProduceFailed { transaction, .. } => *transaction,
            _ => None,
        })
        .collect()
}

/// `KafkaProducer` with a `transactional.id`: initTransactions, beginTransaction, the
/// partition added (AddPartitionsToTxn) before its first batch goes, the batch transactional,
/// and EndTxn(COMMIT) only once every batch is acknowledged (`TransactionManager.nextRequest`).
#[test]
fn a_transactional_producer_adds_its_partition_first_and_commits_after_every_ack() {
    let mut p = transactional(3, 1000.0, 3, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let txn1 = TransactionRef {
        producer_id: 4000,
        producer_epoch: 0,
        number: 1,
    };
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionBegun { transaction, .. } if *transaction == txn1
    )));
    assert_eq!(transactions_of(&out, "record-sent"), vec![Some(txn1); 3]);
    let (to, add) = sent_one(&out, add_partitions);
    assert_eq!(to, COORDINATOR);
    assert_eq!(add.partitions, vec![TopicPartition::new("orders", 0)]);
    assert_eq!((add.producer_id, add.producer_epoch), (4000, 0));
    assert_eq!(add.transaction_version, TransactionVersion::V0);
    assert!(
        none_sent(&out, is_produce),
        "no batch before its partition is added"
    );
    assert!(none_sent(&out, |m| end_txn(m).is_some()));

    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let (_, produce) = sent_one(&out, |m| match m {
        Message::Produce(r) => Some(r.clone()),
        _ => None,
    });
    let stamp = produce.partitions[0].producer.expect("stamped");
    assert!(stamp.is_transactional);
    assert!(
        none_sent(&out, |m| end_txn(m).is_some()),
        "the batch is not acknowledged yet"
    );

    let mut out = Output::default();
    p.on_message(
        now + 2,
        NodeId::Broker(1),
        answer(produce.correlation_id, ErrorCode::None, Some(0)),
        &mut out,
    );
    assert_eq!(transactions_of(&out, "acknowledged"), vec![Some(txn1)]);
    let (to, end) = sent_one(&out, end_txn);
    assert_eq!(to, COORDINATOR);
    assert!(end.committed);
    assert_eq!((end.producer_id, end.producer_epoch), (4000, 0));
    assert_eq!(end.transaction_version, TransactionVersion::V0);

    let mut out = Output::default();
    p.on_message(
        now + 3,
        COORDINATOR,
        end_txn_answer(&end, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionCommitted { transaction, records: 3, partitions, .. }
            if *transaction == txn1 && partitions == &vec![TopicPartition::new("orders", 0)]
    )));
    assert!(p.is_done());
}

/// `abort_every = 2`: the first transaction commits, the second is aborted by the
/// application; its batch, held back by linger.ms, is dropped unsent
/// (`abortUndrainedBatches`) and EndTxn(ABORT) follows. A commit does not wait for
/// linger.ms (`transactionCompleting` makes batches ready).
#[test]
fn every_abort_every_th_transaction_is_aborted_and_its_unsent_batches_dropped() {
    let mut p = transactional(4, 1.0, 2, 2, 10_000);
    init_transactions(&mut p);
    // Records are due at t=0, 1000, 2000 and 3000.
    let mut out = Output::default();
    p.on_timer(200, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        201,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    assert!(none_sent(&out, is_produce), "linger.ms holds the batch");
    let mut out = Output::default();
    p.on_timer(1000, ProducerTimer::Generate, &mut out);
    let produced = produces(&out);
    assert_eq!(produced.len(), 1, "the commit flushes: {:?}", out.messages);
    assert_eq!(produced[0].3, 2);
    let mut out = Output::default();
    p.on_message(
        1001,
        NodeId::Broker(1),
        answer(produced[0].1, ErrorCode::None, Some(0)),
        &mut out,
    );
    let (_, commit) = sent_one(&out, end_txn);
    assert!(commit.committed);
    let mut out = Output::default();
    p.on_message(
        1002,
        COORDINATOR,
        end_txn_answer(&commit, ErrorCode::None),
        &mut out,
    );
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::TransactionCommitted { .. })));

    let mut out = Output::default();
    p.on_timer(2000, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        2001,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let mut out = Output::default();
    p.on_timer(3000, ProducerTimer::Generate, &mut out);
    let txn2 = TransactionRef {
        producer_id: 4000,
        producer_epoch: 0,
        number: 2,
    };
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::ProduceFailed { error: ErrorCode::TransactionAborted, ids, transaction: Some(t), .. }
                if ids.len() == 2 && *t == txn2
        )),
        "{:?}",
        out.events
    );
    assert!(none_sent(&out, is_produce));
    let (_, abort) = sent_one(&out, end_txn);
    assert!(!abort.committed);
    let mut out = Output::default();
    p.on_message(
        3001,
        COORDINATOR,
        end_txn_answer(&abort, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionAborted { transaction, records: 2, reason: AbortReason::Application, .. }
            if *transaction == txn2
    )));
    assert!(p.is_done());
}

/// CONCURRENT_TRANSACTIONS (the coordinator is still completing an earlier transaction of
/// the id) is retried after retry.backoff.ms (InitProducerId), or after at most 20 ms for
/// the first AddPartitionsToTxn of a transaction (`ADD_PARTITIONS_RETRY_BACKOFF_MS`).
#[test]
fn concurrent_transactions_is_retried_after_the_backoff() {
    let mut p = transactional(1, 1000.0, 1, 0, 0);
    let mut out = Output::default();
    p.start(0, &mut out);
    answer_metadata(&mut p, 0, metadata(&[(0, Some(1), 0)]));
    let (_, find) = sent_one(&out, |m| match m {
        Message::FindCoordinator(r) => Some(r.correlation_id),
        _ => None,
    });
    let mut out = Output::default();
    p.on_message(
        1,
        NodeId::Broker(0),
        Message::FindCoordinatorResponse(FindCoordinatorResponse {
            correlation_id: find,
            error: ErrorCode::None,
            coordinator: Some(2),
        }),
        &mut out,
    );
    let mut out = Output::default();
    p.on_timer(101, ProducerTimer::TxnRetry, &mut out);
    let (_, init) = sent_one(&out, init_producer_id);
    let mut out = Output::default();
    p.on_message(
        102,
        COORDINATOR,
        init_answer(init.correlation_id, ErrorCode::ConcurrentTransactions),
        &mut out,
    );
    assert!(none_sent(&out, |m| init_producer_id(m).is_some()));
    assert!(out
        .events
        .iter()
        .all(|e| !matches!(e, Event::TransactionsInitialized { .. })));
    let mut out = Output::default();
    p.on_timer(150, ProducerTimer::TxnRetry, &mut out);
    assert!(
        none_sent(&out, |m| init_producer_id(m).is_some()),
        "not before t=202"
    );
    let mut out = Output::default();
    p.on_timer(202, ProducerTimer::TxnRetry, &mut out);
    let (to, init) = sent_one(&out, init_producer_id);
    assert_eq!(
        to, COORDINATOR,
        "the same coordinator: no need to look again"
    );
    let mut out = Output::default();
    p.on_message(
        203,
        COORDINATOR,
        init_answer(init.correlation_id, ErrorCode::None),
        &mut out,
    );

    let mut out = Output::default();
    p.on_timer(203, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        204,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::ConcurrentTransactions),
        &mut out,
    );
    assert!(none_sent(&out, |m| add_partitions(m).is_some()));
    let mut out = Output::default();
    p.on_timer(224, ProducerTimer::TxnRetry, &mut out);
    let (_, again) = sent_one(&out, add_partitions);
    assert_eq!(again.partitions, add.partitions);
    let mut out = Output::default();
    p.on_message(
        225,
        COORDINATOR,
        add_partitions_answer(&again, ErrorCode::None),
        &mut out,
    );
    assert_eq!(
        produces(&out).len(),
        1,
        "the batch goes once its partition is added"
    );
}

/// PRODUCER_FENCED (a newer instance of the transactional id bumped the epoch) is fatal:
/// the application closes the producer, its batches fail, and it sends nothing more.
#[test]
fn producer_fenced_is_fatal_and_nothing_more_is_sent() {
    let mut p = transactional(6, 1000.0, 3, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::ProducerFenced),
        &mut out,
    );
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::TransactionalProducerFailed {
                error: ErrorCode::ProducerFenced,
                producer_id: 4000,
                producer_epoch: 0,
                transaction: Some(TransactionRef { number: 1, .. }),
                ..
            }
        )),
        "{:?}",
        out.events
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::ProduceFailed { error: ErrorCode::ProducerFenced, ids, .. } if ids.len() == 3
    )));
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    assert!(p.is_done());
    for (t, timer) in [
        (now + 10, ProducerTimer::Generate),
        (now + 20, ProducerTimer::Wake),
        (now + 200, ProducerTimer::TxnRetry),
        (now + 300, ProducerTimer::MetadataRetry),
    ] {
        let mut out = Output::default();
        p.on_timer(t, timer, &mut out);
        assert!(
            out.messages.is_empty() && out.events.is_empty(),
            "{:?}",
            out
        );
    }
}

/// A batch that fails for good makes the transaction abortable: the application, waiting
/// in commitTransaction(), gets the error and aborts (no EndTxn(COMMIT) is sent), then goes
/// on with the next transaction.
#[test]
fn a_failed_batch_makes_the_application_abort_and_go_on() {
    let mut p = transactional(4, 1000.0, 3, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let produced = produces(&out);
    assert_eq!(produced.len(), 1);
    let mut out = Output::default();
    p.on_message(
        now + 2,
        NodeId::Broker(1),
        answer(produced[0].1, ErrorCode::InvalidRecord, None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::ProduceFailed {
            error: ErrorCode::InvalidRecord,
            transaction: Some(TransactionRef { number: 1, .. }),
            ..
        }
    )));
    let (_, abort) = sent_one(&out, end_txn);
    assert!(!abort.committed, "the commit threw; the application aborts");
    let mut out = Output::default();
    p.on_message(
        now + 3,
        COORDINATOR,
        end_txn_answer(&abort, ErrorCode::None),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionAborted {
            transaction: TransactionRef { number: 1, .. },
            reason: AbortReason::Error(ErrorCode::InvalidRecord),
            records: 3,
            ..
        }
    )));
    assert!(
        out.events.iter().any(|e| matches!(
            e,
            Event::TransactionBegun {
                transaction: TransactionRef { number: 2, .. },
                ..
            }
        )),
        "the application goes on: {:?}",
        out.events
    );
    let (_, add) = sent_one(&out, add_partitions);
    assert_eq!(add.partitions, vec![TopicPartition::new("orders", 0)]);
}

/// A batch that fails while the transaction is still open (not committing) leaves sequences
/// that cannot be trusted: after the abort, InitProducerId names the current producer id and
/// epoch and the coordinator bumps the epoch (KIP-360); the next transaction's batches are
/// numbered from 0 under it.
#[test]
fn a_batch_failed_in_an_open_transaction_bumps_the_epoch_after_the_abort() {
    // Records are due at t=0, 1000 and 2000: transaction 1 is open with record 0 only.
    let mut p = transactional(3, 1.0, 2, 0, 0);
    let now = init_transactions(&mut p);
    let mut out = Output::default();
    p.on_timer(now, ProducerTimer::Generate, &mut out);
    let (_, add) = sent_one(&out, add_partitions);
    let mut out = Output::default();
    p.on_message(
        now + 1,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let produced = produces(&out);
    let mut out = Output::default();
    p.on_message(
        now + 2,
        NodeId::Broker(1),
        answer(produced[0].1, ErrorCode::InvalidProducerEpoch, None),
        &mut out,
    );
    assert!(
        none_sent(&out, |m| end_txn(m).is_some()),
        "learnt at the next call"
    );
    // The application's next send() throws: it aborts.
    let mut out = Output::default();
    p.on_timer(1000, ProducerTimer::Generate, &mut out);
    assert!(out.events.iter().all(|e| e.kind() != "record-sent"));
    let (_, abort) = sent_one(&out, end_txn);
    assert!(!abort.committed);
    let mut out = Output::default();
    p.on_message(
        now + 3,
        COORDINATOR,
        end_txn_answer(&abort, ErrorCode::None),
        &mut out,
    );
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::TransactionAborted { .. })));
    let (_, bump) = sent_one(&out, init_producer_id);
    assert_eq!(
        (bump.producer_id, bump.producer_epoch),
        (4000, 0),
        "KIP-360"
    );
    let mut out = Output::default();
    p.on_message(
        1002,
        COORDINATOR,
        Message::InitProducerIdResponse(InitProducerIdResponse {
            correlation_id: bump.correlation_id,
            error: ErrorCode::None,
            producer_id: 4000,
            producer_epoch: 1,
        }),
        &mut out,
    );
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionsInitialized {
            producer_epoch: 1,
            epoch_bump: true,
            ..
        }
    )));
    assert!(out.events.iter().any(|e| matches!(
        e,
        Event::TransactionBegun {
            transaction: TransactionRef {
                producer_epoch: 1,
                number: 2,
                ..
            },
            ..
        }
    )));
    let (_, add) = sent_one(&out, add_partitions);
    assert_eq!(add.producer_epoch, 1);
    let mut out = Output::default();
    p.on_message(
        1003,
        COORDINATOR,
        add_partitions_answer(&add, ErrorCode::None),
        &mut out,
    );
    let (_, produce) = sent_one(&out, |m| match m {
        Message::Produce(r) => Some(r.clone()),
        _ => None,
    });
    let stamp = produce.partitions[0].producer.expect("stamped");
    assert_eq!((stamp.producer_epoch, stamp.base_sequence), (1, 0));
    assert_eq!(
        produce.partitions[0].records[0].id.seq, 1,
        "the record whose send threw opens the next transaction"
    );
}
