//! Process tuning every command does first: thread pools sized so candle,
//! rayon and the batch shards do not compete for cores, and an allocator
//! that keeps freed memory. Environment changes are only sound while the
//! process has one thread.

/// Leaves the cores to the batch shards (`--shards`): candle 0.11 fans large
/// elementwise ops out to a pool of threads of its own that spin between ops,
/// and those compete with the shards for the same cores (measured here, 2
/// shards: 12 samples/s with that pool, 22 without; whole batches: 14). Sets
/// CANDLE_NUM_THREADS to 1 unless the user set it, then pins the matrix
/// threads (`pin_matmul_threads`). Environment changes are only sound while
/// the process has one thread, so call it first thing.
pub fn tune_threads() {
    if std::env::var_os(CANDLE_THREADS).is_none() {
        std::env::set_var(CANDLE_THREADS, "1");
    }
    pin_matmul_threads();
}

/// Spares every command candle 0.11's count of physical cores, which it
/// takes by parsing /proc/cpuinfo for every matrix product (3% of a training
/// step, measured here): sets RAYON_NUM_THREADS to the cores rayon would use
/// anyway, unless the user set it. Only sound while the process has one
/// thread, so call it first thing.
pub fn pin_matmul_threads() {
    if std::env::var_os(RAYON_THREADS).is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        std::env::set_var(RAYON_THREADS, cores.to_string());
    }
}

/// The variable candle reads, once, for the size of its elementwise pool.
const CANDLE_THREADS: &str = "CANDLE_NUM_THREADS";
/// The variable rayon reads for its pool and candle for every matrix product.
const RAYON_THREADS: &str = "RAYON_NUM_THREADS";

/// Keeps freed memory in the process instead of returning it to the kernel
/// after every tensor: a training step allocates and frees hundreds of
/// megabytes, and page faults on fresh memory cost about a third of a step.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is thread-safe and only changes glibc's allocation
    // thresholds; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
