//! Group commit: the write transactions of an instance's queued writers share one
//! SQLite transaction and one COMMIT.
//!
//! SQLite admits one writer. The instance's writers take turns (`turns`, FIFO, woken
//! at once) instead of polling its lock. A writer that finishes its work while others
//! wait does not commit: it passes its open transaction (a `Batch`) on with the turn, and
//! the next writer runs inside it, after a `SAVEPOINT` of its own, so that its failure
//! (`ROLLBACK TO`) leaves the others' work alone. The writer that finds nobody waiting,
//! or the batch full, commits it for everyone. No writer answers before the COMMIT of
//! its batch returned: what it saw (stock, a replayed record) may be another member's
//! uncommitted write, so if the COMMIT fails, or the batch is rolled back because a
//! member left in the middle of its work, every member runs its work again.
//!
//! Only requests of one instance share a batch. Across instances and processes
//! SQLite's own lock still arbitrates: the writer that starts a batch takes it with
//! `BEGIN IMMEDIATE`, retried with jittered sleeps (`Db::begin`).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::database::Connection;
use super::turns::{Baton, Turn, TurnQueue};

/// At most this many writers share one transaction: a batch holds SQLite's write lock
/// for its whole length, so writers of other instances (and statements outside
/// transactions) wait at most this long for it.
pub const MAX_BATCH_MEMBERS: u32 = 32;

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its COMMIT returned: every member's work is durable.
    Committed,
    /// Nothing of it was applied: every member runs its work again.
    RolledBack,
    /// Its COMMIT was sent, but the writer that sent it vanished before the answer (its
    /// request was cancelled): the batch may or may not be durable. Running the work
    /// again could apply it twice, so every member fails as if its connection had been
    /// lost mid-COMMIT (503; a client retries with its `Idempotency-Key`).
    Unknown,
}

/// An open transaction shared by the writers of one instance.
pub struct Batch {
    /// The connection that holds the transaction (its first member's).
    connection: Rc<Connection>,
    /// Members that ran (or are running) their work in it.
    members: Cell<u32>,
    /// Wakers of the members waiting for the outcome; a member clears its slot when it
    /// stops waiting (see `turns`: waking a cancelled task traps the instance).
    waiting: RefCell<Vec<Rc<RefCell<Option<Waker>>>>>,
    /// A member left mid-work: its writes are unknown, so the batch can only roll back.
    poisoned: Cell<bool>,
    /// Nobody holds the turn for this batch: the first waiting member settles it.
    stranded: Cell<bool>,
    /// Its COMMIT or ROLLBACK has been sent (see `Outcome::Unknown`).
    settling: Cell<bool>,
    outcome: Cell<Option<Outcome>>,
}

thread_local! {
    // This instance's writers (a component instance is single-threaded).
    static WRITERS: Rc<TurnQueue<Rc<Batch>>> = TurnQueue::new();
}

/// The queue of this instance's writers.
pub fn writers() -> Rc<TurnQueue<Rc<Batch>>> {
    WRITERS.with(Rc::clone)
}

impl Batch {
    /// A batch on `connection`, whose transaction its first member has just begun.
    pub fn begun_on(connection: Rc<Connection>) -> Rc<Self> {
        Rc::new(Self {
            connection,
            members: Cell::new(0),
            waiting: RefCell::new(Vec::new()),
            poisoned: Cell::new(false),
            stranded: Cell::new(false),
            settling: Cell::new(false),
            outcome: Cell::new(None),
        })
    }

    /// The connection that holds the transaction.
    pub fn connection(&self) -> &Rc<Connection> {
        &self.connection
    }

    /// Counts one more member; returns whether it is the first.
    pub fn join(&self) -> bool {
        let members = self.members.get();
        self.members.set(members + 1);
        members == 0
    }

    /// Whether another writer may still join.
    pub fn has_room(&self) -> bool {
        self.members.get() < MAX_BATCH_MEMBERS && !self.poisoned.get()
    }

    /// Marks the batch as rolled back at its end: a member's work could not be undone
    /// alone (its savepoint could not be rolled back to, or the server rolled the
    /// transaction back).
    pub fn poison(&self) {
        self.poisoned.set(true);
    }

    /// Ends the transaction (COMMIT, or ROLLBACK when poisoned or when COMMIT failed)
    /// and tells every waiting member. Only the turn's holder calls it.
    pub async fn settle(&self) -> Outcome {
        if let Some(outcome) = self.outcome.get() {
            return outcome;
        }
        self.settling.set(true);
        let outcome = if !self.poisoned.get() && run(&self.connection, "COMMIT").await {
            Outcome::Committed
        } else {
            // After a failed COMMIT the transaction may still be open: ROLLBACK ends it
            // (or fails harmlessly when SQLite already rolled it back).
            run(&self.connection, "ROLLBACK").await;
            Outcome::RolledBack
        };
        self.outcome.set(Some(outcome));
        self.wake_waiting();
        outcome
    }

    /// Registers a member as waiting for the outcome: before it passes the turn on, so
    /// that a batch passed to a writer that vanishes is never stranded without it.
    pub fn register(self: &Rc<Self>) -> Waiting {
        let slot = Rc::new(RefCell::new(None::<Waker>));
        self.waiting.borrow_mut().push(Rc::clone(&slot));
        Waiting {
            batch: Rc::clone(self),
            slot,
        }
    }

    fn wake_waiting(&self) {
        let wakers: Vec<Waker> = self
            .waiting
            .borrow()
            .iter()
            .filter_map(|slot| slot.borrow_mut().take())
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    fn members_waiting(&self) -> usize {
        self.waiting.borrow().len()
    }
}

/// A member's registration as waiting for its batch's outcome, undone however the wait
/// ends (also when the request is dropped while it waits).
pub struct Waiting {
    batch: Rc<Batch>,
    slot: Rc<RefCell<Option<Waker>>>,
}

impl Waiting {
    /// Waits until the batch is settled. If it is stranded meanwhile (the writer it was
    /// passed to vanished and nobody else waits for the turn), settles it here.
    pub async fn outcome(mut self) -> Outcome {
        let batch = Rc::clone(&self.batch);
        loop {
            let settled = poll_fn(|context| {
                if let Some(outcome) = batch.outcome.get() {
                    return Poll::Ready(Some(outcome));
                }
                if batch.stranded.get() {
                    return Poll::Ready(None);
                }
                *self.slot.borrow_mut() = Some(context.waker().clone());
                Poll::Pending
            })
            .await;
            if let Some(outcome) = settled {
                self.stop();
                return outcome;
            }
            // Stranded: this member takes the turn the batch kept and settles it.
            if let Some(mut turn) = writers().adopt() {
                batch.stranded.set(false);
                settle_carried(&mut turn).await;
                turn.pass_on();
            }
        }
    }

    fn stop(&mut self) {
        self.slot.borrow_mut().take();
        self.batch
            .waiting
            .borrow_mut()
            .retain(|slot| !Rc::ptr_eq(slot, &self.slot));
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.stop();
        // The last member to stop waiting on a stranded batch must not leave the turn
        // held for nobody: adopting it and dropping the turn passes it on abandoned,
        // and with nobody left the batch is dropped (its connection closed, which rolls
        // the transaction back: nobody was answered for it).
        if self.batch.stranded.get()
            && self.batch.outcome.get().is_none()
            && self.batch.members_waiting() == 0
        {
            drop(writers().adopt());
        }
    }
}

impl Baton for Rc<Batch> {
    fn abandoned(self) -> Self {
        if self.settling.get() && self.outcome.get().is_none() {
            self.outcome.set(Some(Outcome::Unknown));
            self.wake_waiting();
        }
        self.poison();
        self
    }

    fn stranded(self) -> Option<Self> {
        if self.members_waiting() == 0 {
            return None;
        }
        self.stranded.set(true);
        self.wake_waiting();
        Some(self)
    }
}

/// Settles the batch the turn carries, if any: a writer that cannot join the batch it
/// was passed (full or poisoned), or the writer that ends its own batch.
pub async fn settle_carried(turn: &mut Turn<Rc<Batch>>) {
    if let Some(batch) = turn.take_baton() {
        batch.settle().await;
    }
}

/// Runs a statement without parameters on `connection`; whether it succeeded.
async fn run(connection: &Connection, statement: &str) -> bool {
    connection
        .execute(statement, &[], super::Pace::Awaited)
        .await
        .is_ok()
}
