//! A bounded table of host objects that the guest holds as resource handles.

use std::collections::HashMap;

/// Host objects behind guest resource handles, keyed by the handle's `rep`.
///
/// Spin keeps each interface's resources in its own table with a fixed capacity (256 for
/// SQLite connections, key-value stores and CAS handles) and reports a full table as an
/// interface error rather than a trap, so the capacity is part of the behaviour to match.
pub struct HandleTable<T> {
    capacity: usize,
    next_rep: u32,
    entries: HashMap<u32, T>,
}

impl<T> HandleTable<T> {
    /// An empty table that holds at most `capacity` entries at once.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            next_rep: 0,
            entries: HashMap::new(),
        }
    }

    /// Whether the table is at capacity, so that [`HandleTable::push`] would fail.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity
    }

    /// Stores `value` and returns its `rep`, or gives `value` back when the table is full.
    pub fn push(&mut self, value: T) -> Result<u32, T> {
        if self.is_full() {
            return Err(value);
        }
        // Reps are never reused within an instance, so a stale handle can never reach
        // another object.
        let rep = self.next_rep;
        self.next_rep = self.next_rep.wrapping_add(1);
        self.entries.insert(rep, value);
        Ok(rep)
    }

    /// The object behind `rep`, if it is still open.
    pub fn get(&self, rep: u32) -> Option<&T> {
        self.entries.get(&rep)
    }

    /// Mutable access to the object behind `rep`, if it is still open.
    pub fn get_mut(&mut self, rep: u32) -> Option<&mut T> {
        self.entries.get_mut(&rep)
    }

    /// Removes and returns the object behind `rep`.
    pub fn remove(&mut self, rep: u32) -> Option<T> {
        self.entries.remove(&rep)
    }
}
