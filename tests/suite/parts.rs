//! `kernels::parts`: every part runs once, results come back in part order,
//! and the threads a pool keeps spinning take parts while the caller works.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use plotgenre::kernels::parts;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn every_part_runs_once_and_results_keep_part_order() {
    for threads in [1, 3] {
        let ran = Mutex::new(Vec::new());
        let squares = pool(threads).install(|| {
            parts::map_parts(10, |part| {
                ran.lock().unwrap().push(part);
                part * part
            })
        });
        assert_eq!(squares, (0..10).map(|p| p * p).collect::<Vec<_>>());
        let mut ran = ran.into_inner().unwrap();
        ran.sort_unstable();
        assert_eq!(ran, (0..10).collect::<Vec<_>>(), "{threads} threads");
    }
    assert!(parts::map_parts(0, |part| part).is_empty());
}

#[test]
fn row_parts_cover_every_row_once_with_its_index() {
    for threads in [1, 2, 4] {
        // 7 rows of 3 values: each value becomes its row's index.
        let mut out = vec![usize::MAX; 21];
        pool(threads).install(|| {
            parts::for_row_parts(&mut out, 3, |first_row, run| {
                for (k, row) in run.chunks_mut(3).enumerate() {
                    row.fill(first_row + k);
                }
            });
        });
        let expected: Vec<usize> = (0..21).map(|i| i / 3).collect();
        assert_eq!(out, expected, "{threads} threads");
    }
}

#[test]
fn nested_parts_finish() {
    let sums = pool(2).install(|| {
        parts::map_parts(4, |outer| {
            parts::map_parts(5, |inner| outer * 10 + inner)
                .iter()
                .sum::<usize>()
        })
    });
    assert_eq!(sums, vec![10, 60, 110, 160]);
}

/// The point of the spinning pool: while its first thread runs the work,
/// the others take the parts it posts, so they run on several threads.
#[test]
fn a_spinning_pool_shares_the_parts_of_its_work() {
    let threads_used = pool(3).install(|| {
        parts::with_pool_spinning(|| {
            let ran_on = parts::map_parts(6, |_| {
                std::thread::sleep(Duration::from_millis(20));
                rayon::current_thread_index()
            });
            (
                rayon::current_thread_index(),
                ran_on.into_iter().collect::<BTreeSet<_>>(),
            )
        })
    });
    let (leader, used) = threads_used;
    assert_eq!(leader, Some(0), "the work runs on the pool's first thread");
    assert!(used.len() >= 2, "parts ran only on {used:?}");
}
