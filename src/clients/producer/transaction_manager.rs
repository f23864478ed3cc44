//! A transactional producer's side of a transaction (Kafka 3.7's `TransactionManager`, the
//! transactional half; the idempotent half is `idempotence.rs`).
//!
//! Why a state machine of its own: what the application may call next (`beginTransaction`,
//! `send`, `commitTransaction`, `abortTransaction`) and what an error means depend only on
//! where the transaction stands, and Kafka's client is strict about it. An error either
//! leaves the transaction abortable (the application must call `abortTransaction` and may go
//! on) or is fatal (the producer is fenced or confused; the application can only close it).
//! Getting that split right is what makes a zombie stop instead of writing on.
//!
//! Pure: the producer drives it with the application's calls and the coordinator's answers,
//! and it says what to do (send, retry, look for the coordinator again, give up). This is
//! the classic protocol of transaction versions 0 and 1, which a 3.x client speaks: every
//! new partition is added with AddPartitionsToTxn before the first batch goes to it.

use crate::coordinator::transaction::TransactionVersion;
use crate::types::{ErrorCode, TopicPartition};
use std::collections::BTreeSet;

/// Kafka's `TransactionManager.State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxnState {
    Uninitialized,
    Initializing,
    Ready,
    InTransaction,
    CommittingTransaction,
    AbortingTransaction,
    AbortableError,
    FatalError,
}

impl TxnState {
    /// `State.isTransitionValid`: from which states each may be entered.
    pub fn may_follow(self, source: TxnState) -> bool {
        use TxnState::*;
        match self {
            Uninitialized => matches!(source, Ready | AbortableError),
            Initializing => matches!(source, Uninitialized | AbortingTransaction),
            Ready => matches!(
                source,
                Initializing | CommittingTransaction | AbortingTransaction
            ),
            InTransaction => source == Ready,
            CommittingTransaction => source == InTransaction,
            AbortingTransaction => matches!(source, InTransaction | AbortableError),
            AbortableError => matches!(
                source,
                InTransaction | CommittingTransaction | AbortableError | Initializing
            ),
            // Always possible; never left.
            FatalError => true,
        }
    }
}

/// What a call the application made throws (`IllegalStateException` for a call at the wrong
/// time, the stored error for a producer in an error state: `maybeFailWithError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The call does not fit the state (Kafka's `IllegalStateException`).
    InvalidState { state: TxnState },
    /// The producer is in an error state; this is the error that put it there.
    Failed { error: ErrorCode, fatal: bool },
}

/// What to do with a coordinator's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Done; the request's result completes.
    Done,
    /// Send the request again after the backoff; first look for the coordinator again if
    /// `find_coordinator`.
    Retry { find_coordinator: bool },
    /// The transaction must be aborted (the producer went to AbortableError).
    Abortable(ErrorCode),
    /// The producer can do nothing more transactional (it went to FatalError).
    Fatal(ErrorCode),
}

/// The producer's transaction state (`TransactionManager`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionManager {
    state: TxnState,
    last_error: Option<ErrorCode>,
    /// The next end must bump the epoch first (`epochBumpRequired`, KIP-360): after an
    /// UNKNOWN_PRODUCER_ID or a failed batch whose sequence can no longer be trusted.
    epoch_bump_required: bool,
    /// Partitions the application sent to that are not yet asked for.
    new_partitions: BTreeSet<TopicPartition>,
    /// Asked for in an AddPartitionsToTxn not yet answered.
    pending_partitions: BTreeSet<TopicPartition>,
    /// Added: batches may go to these.
    partitions_in_transaction: BTreeSet<TopicPartition>,
    /// An AddOffsetsToTxn succeeded in this transaction (`transactionStarted` set by
    /// `AddOffsetsToTxnHandler`): the coordinator knows of the transaction even without a
    /// data partition, so its end needs an EndTxn.
    offsets_added: bool,
    /// The `transaction.version` the cluster finalized, as the producer last learned it.
    finalized_version: TransactionVersion,
    /// The current transaction runs on transaction version 2 (KIP-890 part 2): chosen when
    /// it begins, so the protocol changes only between transactions.
    transaction_v2: bool,
}

impl Default for TransactionManager {
    fn default() -> Self {
        TransactionManager {
            state: TxnState::Uninitialized,
            last_error: None,
            epoch_bump_required: false,
            new_partitions: BTreeSet::new(),
            pending_partitions: BTreeSet::new(),
            partitions_in_transaction: BTreeSet::new(),
            offsets_added: false,
            finalized_version: TransactionVersion::V0,
            transaction_v2: false,
        }
    }
}

/// An error that `RetriableException` covers, for the transaction requests' handlers.
fn is_retriable(error: ErrorCode) -> bool {
    error.is_retriable() || error == ErrorCode::ConcurrentTransactions
}

impl TransactionManager {
    pub fn state(&self) -> TxnState {
        self.state
    }

    pub fn last_error(&self) -> Option<ErrorCode> {
        self.last_error
    }

    fn transition_to(&mut self, target: TxnState) {
        assert!(
            target.may_follow(self.state),
            "a transactional producer never goes from {:?} to {target:?}",
            self.state
        );
        self.state = target;
    }

    /// `maybeFailWithError`: a producer in an error state throws its error.
    fn fail_with_error(&self) -> Result<(), CallError> {
        match self.state {
            TxnState::AbortableError | TxnState::FatalError => Err(CallError::Failed {
                error: self.last_error.expect("an error state keeps its error"),
                fatal: self.state == TxnState::FatalError,
            }),
            _ => Ok(()),
        }
    }

    fn transition_checked(&mut self, target: TxnState) -> Result<(), CallError> {
        if !target.may_follow(self.state) {
            return Err(CallError::InvalidState { state: self.state });
        }
        self.transition_to(target);
        Ok(())
    }

    /// `initTransactions()`: InitProducerId with the transactional id is to be sent.
    pub fn init_transactions(&mut self) -> Result<(), CallError> {
        self.transition_checked(TxnState::Initializing)
    }

    /// The finalized `transaction.version` the producer learned (Kafka: from ApiVersions).
    pub fn set_finalized_transaction_version(&mut self, version: TransactionVersion) {
        self.finalized_version = version;
    }

    /// Whether the current transaction runs on transaction version 2.
    pub fn is_transaction_v2(&self) -> bool {
        self.transaction_v2
    }

    /// `beginTransaction()`. Kafka 4.0 chooses the protocol here
    /// (`maybeUpdateTransactionV2Enabled`): version 2 if the cluster finalized it.
    pub fn begin_transaction(&mut self) -> Result<(), CallError> {
        self.fail_with_error()?;
        self.transition_checked(TxnState::InTransaction)?;
        self.transaction_v2 = self.finalized_version.supports_epoch_bump();
        Ok(())
    }

    /// `maybeAddPartition`, on `send()`: a partition not yet in the transaction waits to
    /// be added. Under transaction version 2 it is in the transaction at once: no
    /// AddPartitionsToTxn goes out, the leader adds it with its first batch (Kafka 4.0's
    /// `maybeAddPartition`, KIP-890 part 2).
    pub fn maybe_add_partition(&mut self, tp: &TopicPartition) -> Result<(), CallError> {
        self.fail_with_error()?;
        if self.state != TxnState::InTransaction {
            return Err(CallError::InvalidState { state: self.state });
        }
        if self.transaction_v2 {
            self.partitions_in_transaction.insert(tp.clone());
            return Ok(());
        }
        if !self.partitions_in_transaction.contains(tp) && !self.pending_partitions.contains(tp) {
            self.new_partitions.insert(tp.clone());
        }
        Ok(())
    }

    /// `isSendToPartitionAllowed`: a batch may go to a partition once it is added.
    pub fn is_send_to_partition_allowed(&self, tp: &TopicPartition) -> bool {
        self.state != TxnState::FatalError && self.partitions_in_transaction.contains(tp)
    }

    /// The partitions of the next AddPartitionsToTxn (`addPartitionsToTransactionHandler`):
    /// the new ones become pending. Empty when there is nothing to add.
    pub fn take_partitions_to_add(&mut self) -> Vec<TopicPartition> {
        let taken: Vec<TopicPartition> = std::mem::take(&mut self.new_partitions)
            .into_iter()
            .collect();
        self.pending_partitions.extend(taken.iter().cloned());
        taken
    }

    /// `commitTransaction()` begins (`beginCommit`): EndTxn(COMMIT) follows the flush.
    pub fn begin_commit(&mut self) -> Result<(), CallError> {
        self.fail_with_error()?;
        self.transition_checked(TxnState::CommittingTransaction)
    }

    /// `abortTransaction()` begins (`beginAbort`): allowed from an abortable error, and the
    /// partitions not yet added are forgotten.
    pub fn begin_abort(&mut self) -> Result<(), CallError> {
        if self.state != TxnState::AbortableError {
            self.fail_with_error()?;
        }
        self.transition_checked(TxnState::AbortingTransaction)?;
        self.new_partitions.clear();
        Ok(())
    }

    /// `isCompleting`: a commit or an abort is under way.
    pub fn is_completing(&self) -> bool {
        matches!(
            self.state,
            TxnState::CommittingTransaction | TxnState::AbortingTransaction
        )
    }

    /// Whether a partition was added to the transaction (`transactionStarted`): without one
    /// the coordinator knows of no transaction, and no EndTxn is sent.
    pub fn transaction_started(&self) -> bool {
        !self.partitions_in_transaction.is_empty() || self.offsets_added
    }

    /// `sendOffsetsToTransaction()` (`TransactionManager.sendOffsetsToTransaction`): the
    /// stored error is thrown first, and only a transaction under way takes offsets.
    pub fn send_offsets_to_transaction(&mut self) -> Result<(), CallError> {
        self.fail_with_error()?;
        if self.state != TxnState::InTransaction {
            return Err(CallError::InvalidState { state: self.state });
        }
        Ok(())
    }

    /// `AddOffsetsToTxnHandler.handleResponse`: on NONE the TxnOffsetCommit follows and the
    /// transaction has started.
    pub fn on_add_offsets(&mut self, error: ErrorCode) -> Next {
        if error == ErrorCode::None {
            self.offsets_added = true;
            return Next::Done;
        }
        if let Some(next) = self.common_answer(error) {
            return next;
        }
        match error {
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                // `abortableErrorIfPossible`: the epoch can be bumped (KIP-360).
                self.epoch_bump_required = true;
                self.abortable_error(error)
            }
            other => self.fatal_error(other),
        }
    }

    /// `TxnOffsetCommitHandler.handleResponse`, partition by partition: the answer, and
    /// the partitions to commit again. A moved group coordinator (or a timeout) is looked
    /// for again; a loading one or an unknown partition is retried as is; a group that
    /// moved on (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: `CommitFailedException`) or a
    /// fenced instance id makes the transaction abortable; a fenced epoch is fatal.
    pub fn on_txn_offset_commit(
        &mut self,
        answers: &[(TopicPartition, ErrorCode)],
    ) -> (Next, Vec<TopicPartition>) {
        let mut again = Vec::new();
        let mut find_coordinator = false;
        for (tp, error) in answers {
            match error {
                ErrorCode::None => {}
                ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::RequestTimedOut => {
                    find_coordinator = true;
                    again.push(tp.clone());
                }
                ErrorCode::UnknownTopicOrPartition | ErrorCode::CoordinatorLoadInProgress => {
                    again.push(tp.clone())
                }
                ErrorCode::FencedInstanceId
                | ErrorCode::UnknownMemberId
                | ErrorCode::IllegalGeneration => {
                    return (self.abortable_error(*error), Vec::new())
                }
                ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                    return (self.fatal_error(ErrorCode::ProducerFenced), Vec::new())
                }
                other => return (self.fatal_error(*other), Vec::new()),
            }
        }
        match again.is_empty() {
            true => (Next::Done, again),
            false => (Next::Retry { find_coordinator }, again),
        }
    }

    /// `TransactionManager.nextRequest` for an EndTxn of a transaction that never started:
    /// the commit or abort completes without a request.
    pub fn end_without_request(&mut self) {
        assert!(
            matches!(
                self.state,
                TxnState::CommittingTransaction | TxnState::AbortingTransaction
            ),
            "only an ending transaction ends"
        );
        assert!(
            !self.transaction_started(),
            "a started one is ended by EndTxn"
        );
        self.complete_transaction();
    }

    /// Whether the end must be followed by InitProducerId to bump the epoch.
    pub fn epoch_bump_required(&self) -> bool {
        self.epoch_bump_required
    }

    fn abortable_error(&mut self, error: ErrorCode) -> Next {
        // `transitionToAbortableError`: an abort under way stays one.
        if self.state != TxnState::AbortingTransaction {
            self.transition_to(TxnState::AbortableError);
            self.last_error = Some(error);
        }
        Next::Abortable(error)
    }

    fn fatal_error(&mut self, error: ErrorCode) -> Next {
        self.transition_to(TxnState::FatalError);
        self.last_error = Some(error);
        Next::Fatal(error)
    }

    /// The handlers' shared first checks: a moved coordinator is looked for again, any
    /// other retriable error is retried, a fenced epoch is fatal (reported as
    /// PRODUCER_FENCED whichever of the two came).
    fn common_answer(&mut self, error: ErrorCode) -> Option<Next> {
        match error {
            ErrorCode::None => None,
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => Some(Next::Retry {
                find_coordinator: true,
            }),
            e if is_retriable(e) => Some(Next::Retry {
                find_coordinator: false,
            }),
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                Some(self.fatal_error(ErrorCode::ProducerFenced))
            }
            _ => None,
        }
    }

    /// `InitProducerIdHandler.handleResponse`.
    pub fn on_init_producer_id(&mut self, error: ErrorCode) -> Next {
        if error == ErrorCode::None {
            self.transition_to(TxnState::Ready);
            self.last_error = None;
            self.epoch_bump_required = false;
            return Next::Done;
        }
        if let Some(next) = self.common_answer(error) {
            return next;
        }
        self.fatal_error(error)
    }

    /// `FindCoordinatorHandler.handleResponse` for an error: a retriable one is tried again
    /// after the backoff, any other is fatal ("Could not find a coordinator").
    pub fn on_find_coordinator_error(&mut self, error: ErrorCode) -> Next {
        assert_ne!(error, ErrorCode::None, "an error");
        if is_retriable(error) {
            return Next::Retry {
                find_coordinator: false,
            };
        }
        self.fatal_error(error)
    }

    /// `AddPartitionsToTxnHandler.handleResponse` for the partitions asked: the first
    /// error that decides wins, as Kafka's loop returns at it; errors of single partitions
    /// (OPERATION_NOT_ATTEMPTED, a partition the coordinator refused) make the
    /// transaction abortable; with none, the partitions are added.
    pub fn on_add_partitions(&mut self, answers: &[(TopicPartition, ErrorCode)]) -> Next {
        let mut partition_error = None;
        for (_, error) in answers {
            if let Some(next) = self.common_answer(*error) {
                return next;
            }
            match error {
                ErrorCode::None => {}
                ErrorCode::InvalidTxnState => return self.fatal_error(*error),
                ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                    // `abortableErrorIfPossible`: the coordinator can bump the epoch
                    // (KIP-360, from 2.5), so the next end bumps it first.
                    self.epoch_bump_required = true;
                    return self.abortable_error(*error);
                }
                other => partition_error = partition_error.or(Some(*other)),
            }
        }
        for (tp, _) in answers {
            self.pending_partitions.remove(tp);
        }
        if let Some(error) = partition_error {
            return self.abortable_error(error);
        }
        self.partitions_in_transaction
            .extend(answers.iter().map(|(tp, _)| tp.clone()));
        Next::Done
    }

    /// `EndTxnHandler.handleResponse`: a NONE completes the transaction
    /// (`completeTransaction`).
    pub fn on_end_txn(&mut self, error: ErrorCode) -> Next {
        if error == ErrorCode::None {
            self.complete_transaction();
            return Next::Done;
        }
        if let Some(next) = self.common_answer(error) {
            return next;
        }
        match error {
            ErrorCode::InvalidTxnState => self.fatal_error(error),
            ErrorCode::UnknownProducerId | ErrorCode::InvalidProducerIdMapping => {
                self.epoch_bump_required = true;
                self.abortable_error(error)
            }
            other => self.fatal_error(other),
        }
    }

    /// `completeTransaction`: ready for the next one, or first an epoch bump.
    fn complete_transaction(&mut self) {
        let next = if self.epoch_bump_required {
            TxnState::Initializing
        } else {
            TxnState::Ready
        };
        self.transition_to(next);
        self.last_error = None;
        self.new_partitions.clear();
        self.pending_partitions.clear();
        self.partitions_in_transaction.clear();
        self.offsets_added = false;
    }

    /// A batch of the transaction failed for good (`handleFailedBatch` calling
    /// `maybeTransitionToErrorState`, Kafka 3.7): a fenced producer is done, anything else
    /// makes the transaction abortable, and unless the transaction is already ending
    /// (`isCompleting`) the next end bumps the epoch first (`canBumpEpoch`: InitProducerId v3,
    /// brokers from 2.5), because the failed batch's sequences can no longer be trusted.
    /// INVALID_PRODUCER_EPOCH from a partition (KIP-588) is abortable: the abort that follows
    /// is what learns of the fence.
    pub fn on_batch_failed(&mut self, error: ErrorCode) -> Next {
        if error == ErrorCode::ProducerFenced {
            return self.fatal_error(error);
        }
        if self.state == TxnState::FatalError {
            return Next::Fatal(self.last_error.expect("kept"));
        }
        if !self.is_completing() {
            self.epoch_bump_required = true;
        }
        self.abortable_error(error)
    }
}

#[cfg(test)]
mod tests {
    //! After Kafka's `TransactionManagerTest`: the happy path, which errors are fatal and
    //! which abortable, and what the application may call in each state.
    use super::*;

    fn tp(n: u32) -> TopicPartition {
        TopicPartition::new("out", n)
    }

    /// A producer initialised and in a transaction with `out-0` added.
    fn in_transaction() -> TransactionManager {
        let mut t = TransactionManager::default();
        t.init_transactions().unwrap();
        assert_eq!(t.on_init_producer_id(ErrorCode::None), Next::Done);
        t.begin_transaction().unwrap();
        t.maybe_add_partition(&tp(0)).unwrap();
        let asked = t.take_partitions_to_add();
        assert_eq!(asked, vec![tp(0)]);
        assert_eq!(t.on_add_partitions(&[(tp(0), ErrorCode::None)]), Next::Done);
        t
    }

    /// The application sent to `out-n`, and the producer asked to add it.
    fn ask_to_add(t: &mut TransactionManager, n: u32) {
        t.maybe_add_partition(&tp(n)).unwrap();
        assert_eq!(t.take_partitions_to_add(), vec![tp(n)]);
    }

    #[test]
    fn test_basic_transaction_adds_partitions_before_sending_and_commits() {
        let mut t = TransactionManager::default();
        assert_eq!(
            t.begin_transaction(),
            Err(CallError::InvalidState {
                state: TxnState::Uninitialized
            }),
            "initTransactions first"
        );
        let mut t2 = in_transaction();
        assert!(t2.is_send_to_partition_allowed(&tp(0)));
        assert!(!t2.is_send_to_partition_allowed(&tp(1)), "not added yet");
        t2.maybe_add_partition(&tp(0)).unwrap();
        assert!(t2.take_partitions_to_add().is_empty(), "added once");
        t2.begin_commit().unwrap();
        assert_eq!(t2.on_end_txn(ErrorCode::None), Next::Done);
        assert_eq!(t2.state(), TxnState::Ready);
        assert!(
            !t2.is_send_to_partition_allowed(&tp(0)),
            "a new transaction adds again"
        );
        t.init_transactions().unwrap();
    }

    /// Kafka 4.0's `TransactionManagerTest` with transaction version 2: a partition is in
    /// the transaction as soon as it is sent to, with no AddPartitionsToTxn; the version is
    /// chosen when a transaction begins, so a change applies to the next one.
    #[test]
    fn test_transaction_v2_adds_no_partitions_and_switches_only_between_transactions() {
        let mut t = TransactionManager::default();
        t.init_transactions().unwrap();
        assert_eq!(t.on_init_producer_id(ErrorCode::None), Next::Done);
        t.set_finalized_transaction_version(TransactionVersion::V2);
        t.begin_transaction().unwrap();
        assert!(t.is_transaction_v2());
        t.maybe_add_partition(&tp(0)).unwrap();
        assert!(t.take_partitions_to_add().is_empty(), "the leader adds it");
        assert!(t.is_send_to_partition_allowed(&tp(0)));
        assert!(t.transaction_started(), "an EndTxn follows");
        t.set_finalized_transaction_version(TransactionVersion::V0);
        assert!(t.is_transaction_v2(), "not within a transaction");
        t.begin_commit().unwrap();
        assert_eq!(t.on_end_txn(ErrorCode::None), Next::Done);
        t.begin_transaction().unwrap();
        assert!(!t.is_transaction_v2());
        t.maybe_add_partition(&tp(0)).unwrap();
        assert_eq!(t.take_partitions_to_add(), vec![tp(0)]);
    }

    #[test]
    fn test_concurrent_transactions_and_a_moved_coordinator_are_retried() {
        let mut t = in_transaction();
        ask_to_add(&mut t, 1);
        assert_eq!(
            t.on_add_partitions(&[(tp(1), ErrorCode::ConcurrentTransactions)]),
            Next::Retry {
                find_coordinator: false
            }
        );
        assert_eq!(
            t.on_add_partitions(&[(tp(1), ErrorCode::NotCoordinator)]),
            Next::Retry {
                find_coordinator: true
            }
        );
        assert_eq!(t.on_add_partitions(&[(tp(1), ErrorCode::None)]), Next::Done);
        assert!(t.is_send_to_partition_allowed(&tp(1)));
    }

    #[test]
    fn test_producer_fenced_is_fatal_whichever_request_learns_it() {
        let mut t = TransactionManager::default();
        t.init_transactions().unwrap();
        assert_eq!(
            t.on_init_producer_id(ErrorCode::ProducerFenced),
            Next::Fatal(ErrorCode::ProducerFenced)
        );
        let mut t = in_transaction();
        t.begin_commit().unwrap();
        assert_eq!(
            t.on_end_txn(ErrorCode::InvalidProducerEpoch),
            Next::Fatal(ErrorCode::ProducerFenced),
            "reported as PRODUCER_FENCED"
        );
        assert_eq!(
            t.begin_abort(),
            Err(CallError::Failed {
                error: ErrorCode::ProducerFenced,
                fatal: true
            }),
            "a fatal error cannot be aborted"
        );
    }

    /// KIP-588: a partition's INVALID_PRODUCER_EPOCH only makes the transaction abortable;
    /// the abort then hears PRODUCER_FENCED from the coordinator.
    #[test]
    fn test_a_fenced_batch_is_abortable_and_the_abort_finds_the_fence() {
        let mut t = in_transaction();
        assert_eq!(
            t.on_batch_failed(ErrorCode::InvalidProducerEpoch),
            Next::Abortable(ErrorCode::InvalidProducerEpoch)
        );
        assert_eq!(
            t.begin_commit(),
            Err(CallError::Failed {
                error: ErrorCode::InvalidProducerEpoch,
                fatal: false
            })
        );
        assert_eq!(
            t.begin_transaction(),
            Err(CallError::Failed {
                error: ErrorCode::InvalidProducerEpoch,
                fatal: false
            })
        );
        t.begin_abort().unwrap();
        assert_eq!(
            t.on_end_txn(ErrorCode::ProducerFenced),
            Next::Fatal(ErrorCode::ProducerFenced)
        );
        assert_eq!(t.state(), TxnState::FatalError);
    }

    /// Kafka 3.7's `maybeTransitionToErrorState`: any failed batch of an open transaction
    /// asks for an epoch bump before the next one, not only a sequence error.
    #[test]
    fn test_a_failed_batch_bumps_the_epoch_unless_the_transaction_is_ending() {
        let mut t = in_transaction();
        assert_eq!(
            t.on_batch_failed(ErrorCode::DeliveryTimeout),
            Next::Abortable(ErrorCode::DeliveryTimeout)
        );
        assert!(t.epoch_bump_required());
        let mut t = in_transaction();
        t.begin_commit().unwrap();
        t.on_batch_failed(ErrorCode::DeliveryTimeout);
        assert!(!t.epoch_bump_required(), "isCompleting");
        assert_eq!(t.state(), TxnState::AbortableError);
    }

    #[test]
    fn test_an_end_without_an_added_partition_needs_no_request() {
        let mut t = TransactionManager::default();
        t.init_transactions().unwrap();
        t.on_init_producer_id(ErrorCode::None);
        t.begin_transaction().unwrap();
        t.maybe_add_partition(&tp(0)).unwrap();
        t.begin_abort().unwrap();
        assert!(!t.transaction_started());
        t.end_without_request();
        assert_eq!(t.state(), TxnState::Ready);
    }

    #[test]
    fn test_an_error_during_an_abort_leaves_the_abort_going() {
        let mut t = in_transaction();
        t.begin_abort().unwrap();
        assert_eq!(
            t.on_batch_failed(ErrorCode::RequestTimedOut),
            Next::Abortable(ErrorCode::RequestTimedOut)
        );
        assert_eq!(t.state(), TxnState::AbortingTransaction);
        assert_eq!(t.on_end_txn(ErrorCode::None), Next::Done);
        assert_eq!(t.state(), TxnState::Ready);
    }

    #[test]
    fn test_unknown_producer_id_on_add_partitions_bumps_the_epoch_after_the_abort() {
        let mut t = in_transaction();
        ask_to_add(&mut t, 1);
        assert_eq!(
            t.on_add_partitions(&[(tp(1), ErrorCode::UnknownProducerId)]),
            Next::Abortable(ErrorCode::UnknownProducerId)
        );
        assert!(t.epoch_bump_required());
        t.begin_abort().unwrap();
        assert_eq!(t.on_end_txn(ErrorCode::None), Next::Done);
        assert_eq!(
            t.state(),
            TxnState::Initializing,
            "InitProducerId bumps the epoch before the next transaction"
        );
        assert_eq!(t.on_init_producer_id(ErrorCode::None), Next::Done);
        assert!(!t.epoch_bump_required());
        t.begin_transaction().unwrap();
    }

    #[test]
    fn test_invalid_txn_state_is_fatal_and_a_partition_error_abortable() {
        let mut t = in_transaction();
        ask_to_add(&mut t, 1);
        assert_eq!(
            t.on_add_partitions(&[(tp(1), ErrorCode::InvalidTxnState)]),
            Next::Fatal(ErrorCode::InvalidTxnState)
        );
        let mut t = in_transaction();
        ask_to_add(&mut t, 1);
        assert_eq!(
            t.on_add_partitions(&[(tp(1), ErrorCode::InvalidRecord)]),
            Next::Abortable(ErrorCode::InvalidRecord)
        );
        assert!(!t.is_send_to_partition_allowed(&tp(1)));
    }

    #[test]
    fn test_only_kafkas_transitions_are_valid() {
        use TxnState::*;
        let all = [
            Uninitialized,
            Initializing,
            Ready,
            InTransaction,
            CommittingTransaction,
            AbortingTransaction,
            AbortableError,
            FatalError,
        ];
        let valid: BTreeSet<(TxnState, TxnState)> = all
            .iter()
            .flat_map(|&to| all.iter().map(move |&from| (from, to)))
            .filter(|(from, to)| to.may_follow(*from) && *to != FatalError)
            .collect();
        // Kafka's table, written out once more as (from, to).
        let kafka: BTreeSet<(TxnState, TxnState)> = [
            (Ready, Uninitialized),
            (AbortableError, Uninitialized),
            (Uninitialized, Initializing),
            (AbortingTransaction, Initializing),
            (Initializing, Ready),
            (CommittingTransaction, Ready),
            (AbortingTransaction, Ready),
            (Ready, InTransaction),
            (InTransaction, CommittingTransaction),
            (InTransaction, AbortingTransaction),
            (AbortableError, AbortingTransaction),
            (Initializing, AbortableError),
            (InTransaction, AbortableError),
            (CommittingTransaction, AbortableError),
            (AbortableError, AbortableError),
        ]
        .into_iter()
        .collect();
        assert_eq!(valid, kafka);
        assert!(all.iter().all(|&from| FatalError.may_follow(from)));
    }

    fn group_tp(n: u32) -> TopicPartition {
        TopicPartition::new("in", n)
    }

    /// `testSendOffsetsToTransaction`-style: AddOffsetsToTxn starts the transaction even
    /// without a data partition, so its end needs an EndTxn.
    #[test]
    fn test_add_offsets_starts_the_transaction() {
        let mut t = TransactionManager::default();
        t.init_transactions().unwrap();
        t.on_init_producer_id(ErrorCode::None);
        t.begin_transaction().unwrap();
        assert!(!t.transaction_started());
        t.send_offsets_to_transaction().unwrap();
        assert_eq!(t.on_add_offsets(ErrorCode::None), Next::Done);
        assert!(t.transaction_started());
        let (next, again) = t.on_txn_offset_commit(&[(group_tp(0), ErrorCode::None)]);
        assert_eq!((next, again), (Next::Done, Vec::new()));
        t.begin_commit().unwrap();
        assert_eq!(t.on_end_txn(ErrorCode::None), Next::Done);
        assert_eq!(t.state(), TxnState::Ready);
        assert!(
            !t.transaction_started(),
            "the next transaction starts afresh"
        );
    }

    /// `sendOffsetsToTransaction` outside a transaction is an `IllegalStateException`; in
    /// an abortable error it throws the stored error.
    #[test]
    fn test_send_offsets_needs_a_transaction_without_error() {
        let mut t = TransactionManager::default();
        t.init_transactions().unwrap();
        t.on_init_producer_id(ErrorCode::None);
        assert_eq!(
            t.send_offsets_to_transaction(),
            Err(CallError::InvalidState {
                state: TxnState::Ready
            })
        );
        let mut t = in_transaction();
        t.on_batch_failed(ErrorCode::NotEnoughReplicas);
        assert_eq!(
            t.send_offsets_to_transaction(),
            Err(CallError::Failed {
                error: ErrorCode::NotEnoughReplicas,
                fatal: false
            })
        );
    }

    /// `TxnOffsetCommitHandler`: a moved coordinator is looked for again and only the failed
    /// partitions are sent again; a stale generation aborts (`CommitFailedException`); a
    /// fenced epoch is fatal.
    #[test]
    fn test_txn_offset_commit_errors() {
        let mut t = in_transaction();
        t.send_offsets_to_transaction().unwrap();
        t.on_add_offsets(ErrorCode::None);
        let (next, again) = t.on_txn_offset_commit(&[
            (group_tp(0), ErrorCode::None),
            (group_tp(1), ErrorCode::NotCoordinator),
        ]);
        assert_eq!(
            next,
            Next::Retry {
                find_coordinator: true
            }
        );
        assert_eq!(again, vec![group_tp(1)]);
        let (next, again) =
            t.on_txn_offset_commit(&[(group_tp(1), ErrorCode::CoordinatorLoadInProgress)]);
        assert_eq!(
            next,
            Next::Retry {
                find_coordinator: false
            }
        );
        assert_eq!(again, vec![group_tp(1)]);
        let (next, _) = t.on_txn_offset_commit(&[(group_tp(1), ErrorCode::IllegalGeneration)]);
        assert_eq!(next, Next::Abortable(ErrorCode::IllegalGeneration));
        assert_eq!(t.state(), TxnState::AbortableError);

        let mut t = in_transaction();
        t.send_offsets_to_transaction().unwrap();
        t.on_add_offsets(ErrorCode::None);
        let (next, _) = t.on_txn_offset_commit(&[(group_tp(0), ErrorCode::InvalidProducerEpoch)]);
        assert_eq!(next, Next::Fatal(ErrorCode::ProducerFenced));
    }

    /// `AddOffsetsToTxnHandler`: UNKNOWN_PRODUCER_ID aborts and bumps the epoch after; a
    /// fenced epoch is fatal; a moved coordinator is retried after finding it again.
    #[test]
    fn test_add_offsets_errors() {
        let mut t = in_transaction();
        assert_eq!(
            t.on_add_offsets(ErrorCode::NotCoordinator),
            Next::Retry {
                find_coordinator: true
            }
        );
        assert_eq!(
            t.on_add_offsets(ErrorCode::UnknownProducerId),
            Next::Abortable(ErrorCode::UnknownProducerId)
        );
        assert!(t.epoch_bump_required());
        let mut t = in_transaction();
        assert_eq!(
            t.on_add_offsets(ErrorCode::ProducerFenced),
            Next::Fatal(ErrorCode::ProducerFenced)
        );
    }
}
