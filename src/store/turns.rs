//! Turns: one holder at a time, in arrival order, woken the moment the turn is theirs.
//!
//! The instance's SQLite writers take turns here (`store::batch`) instead of each
//! polling the database's write lock: a waiter sleeps until the holder passes the turn
//! on, and then it is woken at once, in FIFO order, so nobody overtakes a waiter and the
//! lock never sits free while the next writer sleeps.
//!
//! A turn can carry a *baton* from one holder to the next (the open transaction of a
//! group commit). Whoever holds the turn owns the baton; when the turn is passed on with
//! nobody waiting, or its holder vanishes, the baton decides what becomes of it
//! (`Baton::stranded`, `Baton::abandoned`).
//!
//! Cancellation is part of the contract: a request's future may be dropped at any await
//! (the host cancels it, or a caller stops polling). A waiter dropped in the queue leaves
//! it; one dropped after the turn was granted but before it ran passes the turn on; a
//! holder dropped mid-turn passes it on with its baton marked abandoned. Nothing ever
//! waits on a task that is gone.
//!
//! Wakers cross requests here (one request's task wakes another's), which wit-bindgen
//! supports only with its `inter-task-wakeup` feature (enabled in Cargo.toml). Its wake
//! of a task that was cancelled while asleep traps the instance, so a waiter's waker is
//! forgotten the moment its future is dropped.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What a turn may carry from one holder to the next.
pub trait Baton: Sized {
    /// The holder left without passing the turn on itself (its future was dropped
    /// mid-turn): whatever it was doing with the baton is in an unknown state.
    fn abandoned(self) -> Self;

    /// The turn was passed on with this baton and nobody waits for the turn. Returns the
    /// baton if somebody will come for it (`TurnQueue::adopt`); the turn stays held for
    /// them meanwhile. Returns `None` to drop it, and the turn comes free.
    fn stranded(self) -> Option<Self>;
}

/// A FIFO turn shared by the tasks of one instance.
pub struct TurnQueue<B> {
    state: RefCell<QueueState<B>>,
}

struct QueueState<B> {
    /// Whether someone holds the turn (or it is granted and not yet taken, or a
    /// stranded baton keeps it for its adopter).
    held: bool,
    /// Who waits, first come first.
    waiting: VecDeque<Rc<Ticket>>,
    /// What the last holder passed on, for the next holder (or the adopter).
    baton: Option<B>,
}

/// One waiter's place in the queue.
struct Ticket {
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl<B: Baton> TurnQueue<B> {
    pub fn new() -> Rc<Self> {
        Rc::new(Self {
            state: RefCell::new(QueueState {
                held: false,
                waiting: VecDeque::new(),
                baton: None,
            }),
        })
    }

    /// Waits for the turn, behind everyone already waiting.
    pub fn take(self: &Rc<Self>) -> TakeTurn<B> {
        TakeTurn {
            queue: Rc::clone(self),
            ticket: None,
        }
    }

    /// The turn with a stranded baton, for whoever the baton chose; `None` if it was
    /// adopted already.
    pub fn adopt(self: &Rc<Self>) -> Option<Turn<B>> {
        let mut state = self.state.borrow_mut();
        debug_assert!(state.held || state.baton.is_none());
        let baton = state.baton.take()?;
        Some(Turn {
            queue: Rc::clone(self),
            baton: Some(baton),
            passed: false,
        })
    }

    /// How many wait for the turn (not counting its holder).
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiting.len()
    }

    /// Whether anyone holds the turn.
    #[cfg(test)]
    fn is_held(&self) -> bool {
        self.state.borrow().held
    }

    /// The holder leaves: the next waiter gets the turn and `baton`, or, with nobody
    /// waiting, the baton decides (`Baton::stranded`) and the turn comes free.
    fn pass(&self, baton: Option<B>) {
        let mut state = self.state.borrow_mut();
        debug_assert!(state.held, "only the holder passes the turn on");
        if let Some(next) = state.waiting.pop_front() {
            state.baton = baton;
            next.granted.set(true);
            let waker = next.waker.borrow_mut().take();
            // No borrow is held while waking: a waker may poll a task right away.
            drop(state);
            if let Some(waker) = waker {
                waker.wake();
            }
            return;
        }
        let Some(baton) = baton else {
            state.held = false;
            return;
        };
        drop(state);
        match baton.stranded() {
            Some(baton) => self.state.borrow_mut().baton = Some(baton),
            None => self.state.borrow_mut().held = false,
        }
    }
}

/// The future of `TurnQueue::take`.
pub struct TakeTurn<B: Baton> {
    queue: Rc<TurnQueue<B>>,
    ticket: Option<Rc<Ticket>>,
}

impl<B: Baton> Future for TakeTurn<B> {
    type Output = Turn<B>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Turn<B>> {
        let this = self.get_mut();
        let mut state = this.queue.state.borrow_mut();
        let Some(ticket) = &this.ticket else {
            if !state.held {
                state.held = true;
                drop(state);
                return Poll::Ready(Turn {
                    queue: Rc::clone(&this.queue),
                    baton: None,
                    passed: false,
                });
            }
            let ticket = Rc::new(Ticket {
                granted: Cell::new(false),
                waker: RefCell::new(Some(context.waker().clone())),
            });
            state.waiting.push_back(Rc::clone(&ticket));
            this.ticket = Some(ticket);
            return Poll::Pending;
        };
        if ticket.granted.get() {
            let baton = state.baton.take();
            drop(state);
            this.ticket = None;
            return Poll::Ready(Turn {
                queue: Rc::clone(&this.queue),
                baton,
                passed: false,
            });
        }
        *ticket.waker.borrow_mut() = Some(context.waker().clone());
        Poll::Pending
    }
}

impl<B: Baton> Drop for TakeTurn<B> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let mut state = self.queue.state.borrow_mut();
        if ticket.granted.get() {
            // Granted but never taken: pass it on as it came.
            let baton = state.baton.take();
            drop(state);
            self.queue.pass(baton);
        } else {
            state
                .waiting
                .retain(|waiting| !Rc::ptr_eq(waiting, &ticket));
        }
    }
}

/// Holding the turn. Pass it on with `pass_on` (keeping the baton moving) or `release`;
/// dropped otherwise, it passes the turn on with its baton `abandoned`.
pub struct Turn<B: Baton> {
    queue: Rc<TurnQueue<B>>,
    baton: Option<B>,
    passed: bool,
}

impl<B: Baton> Turn<B> {
    /// The baton the holder carries (what the previous holder passed on, or what this
    /// one set).
    pub fn baton(&self) -> Option<&B> {
        self.baton.as_ref()
    }

    /// Takes the baton out of the turn: the holder is done with it.
    pub fn take_baton(&mut self) -> Option<B> {
        self.baton.take()
    }

    /// Gives the turn a baton to carry.
    pub fn set_baton(&mut self, baton: B) {
        self.baton = Some(baton);
    }

    /// Whether anyone waits for the turn.
    pub fn others_waiting(&self) -> bool {
        self.queue.waiting() > 0
    }

    /// Passes the turn on with the baton it carries.
    pub fn pass_on(mut self) {
        self.passed = true;
        let baton = self.baton.take();
        self.queue.pass(baton);
    }
}

impl<B: Baton> Drop for Turn<B> {
    fn drop(&mut self) {
        if !self.passed {
            let baton = self.baton.take().map(Baton::abandoned);
            self.queue.pass(baton);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    /// A baton that records what happened to it.
    #[derive(Debug, Clone, PartialEq)]
    struct Note {
        abandoned: bool,
        adoptable: bool,
    }

    impl Baton for Note {
        fn abandoned(self) -> Self {
            Self {
                abandoned: true,
                ..self
            }
        }
        fn stranded(self) -> Option<Self> {
            self.adoptable.then_some(self)
        }
    }

    struct CountingWaker(Cell<u32>);
    // The tests are single-threaded; `Wake` needs Send + Sync.
    unsafe impl Send for CountingWaker {}
    unsafe impl Sync for CountingWaker {}
    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn waker() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker(Cell::new(0)));
        (Arc::clone(&counter), Waker::from(counter))
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    fn note() -> Note {
        Note {
            abandoned: false,
            adoptable: false,
        }
    }

    #[test]
    fn a_free_turn_is_taken_at_once_and_comes_free_when_passed_on() {
        let queue = TurnQueue::<Note>::new();
        let (_, waker) = waker();
        let Poll::Ready(turn) = poll(&mut queue.take(), &waker) else {
            panic!("a free turn is taken at once");
        };
        assert!(queue.is_held());
        turn.pass_on();
        assert!(!queue.is_held());
    }

    #[test]
    fn waiters_get_the_turn_in_arrival_order_and_are_woken_once_each() {
        let queue = TurnQueue::<Note>::new();
        let (_, any) = waker();
        let Poll::Ready(first) = poll(&mut queue.take(), &any) else {
            panic!()
        };
        let (second_count, second_waker) = waker();
        let (third_count, third_waker) = waker();
        let mut second = queue.take();
        let mut third = queue.take();
        assert!(poll(&mut second, &second_waker).is_pending());
        assert!(poll(&mut third, &third_waker).is_pending());
        // A newcomer cannot overtake them.
        let mut newcomer = queue.take();
        assert!(poll(&mut newcomer, &any).is_pending());

        first.pass_on();
        assert_eq!(second_count.0.get(), 1, "the next waiter is woken at once");
        assert_eq!(third_count.0.get(), 0, "only the next one");
        assert!(poll(&mut third, &third_waker).is_pending());
        let Poll::Ready(second_turn) = poll(&mut second, &second_waker) else {
            panic!("the second waiter holds the turn")
        };
        second_turn.pass_on();
        assert_eq!(third_count.0.get(), 1);
        assert!(matches!(poll(&mut third, &third_waker), Poll::Ready(_)));
    }

    #[test]
    fn a_waiter_dropped_in_the_queue_does_not_block_the_next_one() {
        let queue = TurnQueue::<Note>::new();
        let (_, any) = waker();
        let Poll::Ready(first) = poll(&mut queue.take(), &any) else {
            panic!()
        };
        let (dropped_count, dropped_waker) = waker();
        let mut dropped = queue.take();
        assert!(poll(&mut dropped, &dropped_waker).is_pending());
        let (next_count, next_waker) = waker();
        let mut next = queue.take();
        assert!(poll(&mut next, &next_waker).is_pending());

        drop(dropped);
        assert_eq!(queue.waiting(), 1);
        first.pass_on();
        assert_eq!(dropped_count.0.get(), 0, "a dropped waiter is never woken");
        assert_eq!(next_count.0.get(), 1);
        assert!(matches!(poll(&mut next, &next_waker), Poll::Ready(_)));
    }

    #[test]
    fn a_waiter_dropped_after_its_grant_passes_the_turn_and_baton_on() {
        let queue = TurnQueue::<Note>::new();
        let (_, any) = waker();
        let Poll::Ready(mut first) = poll(&mut queue.take(), &any) else {
            panic!()
        };
        let mut granted_then_dropped = queue.take();
        assert!(poll(&mut granted_then_dropped, &any).is_pending());
        let (next_count, next_waker) = waker();
        let mut next = queue.take();
        assert!(poll(&mut next, &next_waker).is_pending());

        first.set_baton(note());
        first.pass_on();
        drop(granted_then_dropped);
        assert_eq!(next_count.0.get(), 1);
        let Poll::Ready(turn) = poll(&mut next, &next_waker) else {
            panic!("the turn reached the next waiter")
        };
        assert_eq!(turn.baton(), Some(&note()), "with the baton, untouched");
    }

    #[test]
    fn a_holder_dropped_mid_turn_passes_its_baton_on_abandoned() {
        let queue = TurnQueue::<Note>::new();
        let (_, any) = waker();
        let Poll::Ready(mut holder) = poll(&mut queue.take(), &any) else {
            panic!()
        };
        let mut next = queue.take();
        assert!(poll(&mut next, &any).is_pending());
        holder.set_baton(note());
        drop(holder);
        let Poll::Ready(turn) = poll(&mut next, &any) else {
            panic!()
        };
        assert!(turn.baton().unwrap().abandoned);
    }

    #[test]
    fn a_stranded_baton_keeps_the_turn_for_its_adopter_or_frees_it() {
        let queue = TurnQueue::<Note>::new();
        let (_, any) = waker();

        let Poll::Ready(mut holder) = poll(&mut queue.take(), &any) else {
            panic!()
        };
        holder.set_baton(Note {
            adoptable: true,
            ..note()
        });
        holder.pass_on();
        assert!(queue.is_held(), "kept for the adopter");
        let mut latecomer = queue.take();
        assert!(poll(&mut latecomer, &any).is_pending());
        let adopted = queue.adopt().expect("the baton waits for its adopter");
        assert!(queue.adopt().is_none(), "adopted once");
        adopted.pass_on();
        assert!(matches!(poll(&mut latecomer, &any), Poll::Ready(_)));

        let queue = TurnQueue::<Note>::new();
        let Poll::Ready(mut holder) = poll(&mut queue.take(), &any) else {
            panic!()
        };
        holder.set_baton(note());
        holder.pass_on();
        assert!(!queue.is_held(), "a baton nobody comes for is dropped");
    }
}
