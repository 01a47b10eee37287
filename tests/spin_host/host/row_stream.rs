//! A host-side `stream<T>` fed from a channel, for `execute-async`'s rows.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use wasmtime::StoreContextMut;
use wasmtime::component::{Destination, StreamProducer, StreamResult};

/// Produces the items a background task sends on a channel, one per guest read, and
/// ends the stream when the sender is gone.
pub struct RowProducer<T> {
    items: mpsc::Receiver<T>,
}

impl<T> RowProducer<T> {
    /// A producer of whatever arrives on `items`.
    pub fn new(items: mpsc::Receiver<T>) -> Self {
        Self { items }
    }
}

impl<D, T: Send + Sync + 'static> StreamProducer<D> for RowProducer<T> {
    type Item = T;
    type Buffer = Option<T>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        store: StoreContextMut<'a, D>,
        mut destination: Destination<'a, T, Option<T>>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        // A zero-length read only asks whether the stream is alive: answering at once is
        // allowed, and taking an item now could lose it if the guest never reads again.
        if destination.remaining(store) == Some(0) {
            return Poll::Ready(Ok(StreamResult::Completed));
        }
        match self.get_mut().items.poll_recv(context) {
            Poll::Ready(Some(item)) => {
                destination.set_buffer(Some(item));
                Poll::Ready(Ok(StreamResult::Completed))
            }
            Poll::Ready(None) => Poll::Ready(Ok(StreamResult::Dropped)),
            // The guest cancels its read: nothing was taken, so nothing is lost.
            Poll::Pending if finish => Poll::Ready(Ok(StreamResult::Cancelled)),
            Poll::Pending => Poll::Pending,
        }
    }
}
