//! Loops split into a few parts on rayon's threads, whose caller waits for
//! the other parts by spinning and taking pending tasks, never by sleeping.
//!
//! One plot's forward pass runs about a hundred loops of 20-200 µs each.
//! Waiting in one of rayon's own joins, a thread goes to sleep within a
//! microsecond, and in the browser waking it again takes about as long as
//! a loop: with two threads, the attention and GELU loops ran only 1.25x
//! faster than on one, the products 1.5-1.7x. Parts that run in any order
//! on any thread compute the same values, so the split never changes a bit.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Runs rayon's pending tasks on this thread until `done()` holds.
pub fn spin_until(done: impl Fn() -> bool) {
    while !done() {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::hint::spin_loop();
        }
    }
}

/// Calls `f(part)` for every part in `0..parts` on rayon's threads (this one
/// takes part 0) and returns once all have returned.
pub fn run_parts(parts: usize, f: impl Fn(usize) + Sync) {
    if parts <= 1 || rayon::current_num_threads() == 1 {
        (0..parts).for_each(f);
        return;
    }
    let pending = AtomicUsize::new(parts - 1);
    rayon::scope(|scope| {
        for part in 1..parts {
            let (f, pending) = (&f, &pending);
            scope.spawn(move |_| {
                f(part);
                pending.fetch_sub(1, Ordering::Release);
            });
        }
        f(0);
        spin_until(|| pending.load(Ordering::Acquire) == 0);
    });
}

/// `f(part)` for every part in `0..parts`, computed as [`run_parts`] does,
/// in part order.
pub fn map_parts<T: Send>(parts: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let results: Vec<Mutex<Option<T>>> = (0..parts).map(|_| Mutex::new(None)).collect();
    run_parts(parts, |part| {
        let result = f(part);
        *results[part].lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    });
    results
        .into_iter()
        .filter_map(|slot| slot.into_inner().unwrap_or_else(PoisonError::into_inner))
        .collect()
}

/// Calls `f(first_row, run)` on one run of whole rows of `out` (rows of
/// `width` values) per thread of rayon's pool, as [`run_parts`] does.
pub fn for_row_parts<T: Send>(out: &mut [T], width: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let rows = out.len().div_ceil(width.max(1));
    let rows_per_part = rows.div_ceil(rayon::current_num_threads()).max(1);
    let runs: Vec<Mutex<&mut [T]>> = out
        .chunks_mut(rows_per_part * width.max(1))
        .map(Mutex::new)
        .collect();
    run_parts(runs.len(), |part| {
        let mut run = runs[part].lock().unwrap_or_else(PoisonError::into_inner);
        f(part * rows_per_part, &mut run);
    });
}

/// Runs `work` on the first thread of rayon's pool while the others spin,
/// taking every part posted as soon as it is posted (a thread that goes to
/// sleep between loops comes back late for the next one).
pub fn with_pool_spinning<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let work = Mutex::new(Some(work));
    let done = AtomicBool::new(false);
    let results = rayon::broadcast(|context| {
        if context.index() != 0 {
            spin_until(|| done.load(Ordering::Acquire));
            return None;
        }
        let _done = SetOnDrop(&done);
        let work = work.lock().unwrap_or_else(PoisonError::into_inner).take();
        work.map(|work| work())
    });
    results
        .into_iter()
        .flatten()
        .next()
        .expect("rayon's broadcast runs on the pool's first thread")
}

/// Sets its flag when dropped, so that spinning threads stop even if the
/// work panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}
