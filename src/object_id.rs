//! Identities of objects that cannot be compared by value (a leaf module: it imports nothing).

use std::sync::Arc;
#[cfg(any(test, feature = "__http"))]
use std::sync::atomic::{AtomicU64, Ordering};

/// The address of an `Arc`'s object: its identity while it is alive (clones share it).
pub(crate) fn arc_identity<T: ?Sized>(arc: &Arc<T>) -> usize {
    Arc::as_ptr(arc).cast::<()>() as usize
}

/// A number no other call in this process returns (never 0): the identity of an object's
/// lineage, kept by its clones.
#[cfg(any(test, feature = "__http"))]
pub(crate) fn next_identity() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        let a = Arc::new(1);
        let b = Arc::new(1);
        assert_eq!(arc_identity(&a), arc_identity(&a.clone()));
        assert_ne!(arc_identity(&a), arc_identity(&b));
        let (x, y) = (next_identity(), next_identity());
        assert!(x != 0 && y != 0 && x != y);
    }
}
