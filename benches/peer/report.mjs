// report.mjs — its one job: turn `make bench-peer`'s raw browser figures into the table and
// the one `RESULT {json}` line (medians over rounds of each round's figures).

/** The `q`-quantile of `values` (nearest rank, as benches/wasm.rs). */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(Math.max(Math.ceil(q * sorted.length), 1), sorted.length);
  return sorted[rank - 1];
}

const median = (values) => quantile(values, 0.5);

/** One round of one side, in the figures the report shows. */
export function roundFigures({ cold, warm, run, peakBytes }, plots) {
  const batchSeconds = run.batchMs.reduce((sum, ms) => sum + ms, 0) / 1e3;
  return {
    median_ms: median(run.latenciesMs),
    p90_ms: quantile(run.latenciesMs, 0.9),
    batch_plots_per_s: plots / batchSeconds,
    cold_page_ms: cold.firstResultMs,
    warm_page_ms: warm.firstResultMs,
    cold_start_ms: cold.startMs,
    warm_start_ms: warm.startMs,
    memory_mb: peakBytes / 1e6,
  };
}

/** Each figure's median over the rounds of one side. */
export function overRounds(rounds) {
  const keys = Object.keys(rounds[0]);
  return Object.fromEntries(keys.map((key) => [key, median(rounds.map((round) => round[key]))]));
}

const round = (value, digits = 1) => Number(value.toFixed(digits));

function printTable(sides) {
  console.log('| side | threads | median ms | p90 ms | batch of 16, plots/s | cold: page / own start ms | second visit: page / own start ms | peak memory MB |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const { name, threads, figures: f } of sides) {
    console.log(`| ${name} | ${threads} | ${f.median_ms.toFixed(1)} | ${f.p90_ms.toFixed(1)} | ${f.batch_plots_per_s.toFixed(1)} `
      + `| ${f.cold_page_ms.toFixed(0)} / ${f.cold_start_ms.toFixed(0)} | ${f.warm_page_ms.toFixed(0)} / ${f.warm_start_ms.toFixed(0)} | ${f.memory_mb.toFixed(0)} |`);
  }
}

/** The figures of one side other than the product's, as RESULT lists them. */
function sideEntry({ threads, figures: f }) {
  return {
    threads,
    median_ms: round(f.median_ms, 2),
    p90_ms: round(f.p90_ms, 2),
    batch_plots_per_s: round(f.batch_plots_per_s),
    cold_ms: round(f.cold_start_ms),
    warm_start_ms: round(f.warm_start_ms),
    cold_page_ms: round(f.cold_page_ms),
    warm_page_ms: round(f.warm_page_ms),
    memory_mb: round(f.memory_mb),
  };
}

/**
 * Print the table and the RESULT line. `ours` (the threaded build), `single` (the
 * single-thread build), each of `plain` (their plain builds, where `ours` ran a relaxed-SIMD
 * twin and they were asked for) and each of `peers` (ORT) is `{name, threads, figures}`;
 * `context` adds what the run was (load, rounds, ...). ORT's best is its lowest median and,
 * separately, its highest batch throughput.
 */
export function report(ours, single, plain, peers, context) {
  printTable([ours, single, ...plain, ...peers]);
  const ortOneThread = peers.find((peer) => peer.threads === 1);
  const bestMedian = peers.reduce((a, b) => (b.figures.median_ms < a.figures.median_ms ? b : a));
  const bestBatch = peers.reduce((a, b) => (b.figures.batch_plots_per_s > a.figures.batch_plots_per_s ? b : a));
  const f = ours.figures;
  const result = {
    median_ms: round(f.median_ms, 2),
    p90_ms: round(f.p90_ms, 2),
    batch_plots_per_s: round(f.batch_plots_per_s),
    cold_ms: round(f.cold_page_ms),
    warm_start_ms: round(f.warm_page_ms),
    cold_load_ms: round(f.cold_start_ms),
    warm_load_ms: round(f.warm_start_ms),
    memory_mb: round(f.memory_mb),
    threads: ours.threads,
    ort_best_threads: bestMedian.threads,
    ort_best_median_ms: round(bestMedian.figures.median_ms, 2),
    ort_best_p90_ms: round(bestMedian.figures.p90_ms, 2),
    ort_best_batch_threads: bestBatch.threads,
    ort_best_batch_plots_per_s: round(bestBatch.figures.batch_plots_per_s),
    median_ratio_vs_ort_best: round(f.median_ms / bestMedian.figures.median_ms, 3),
    p90_ratio_vs_ort_best: round(f.p90_ms / bestMedian.figures.p90_ms, 3),
    batch_ratio_vs_ort_best: round(f.batch_plots_per_s / bestBatch.figures.batch_plots_per_s, 3),
    single_median_ratio_vs_ort_1_thread: round(single.figures.median_ms / ortOneThread.figures.median_ms, 3),
    single_thread_build: sideEntry(single),
    ...(plain.length > 0 ? { plain_builds: plain.map(sideEntry) } : {}),
    ort: peers.map(sideEntry),
    ...context,
  };
  const mb = (bytes) => (bytes / 1e6).toFixed(2);
  console.log(`\nDownloads: wasm ${mb(result.wasm_bytes)} MB threaded, ${mb(result.single_wasm_bytes)} MB single-thread; bundle ${mb(result.bundle_bytes)} MB.`);
  console.log('Peak memory: the peak resident set of the side\'s renderer process (page, workers, threads)'
    + ` over its first visit and timed runs; the bench page alone, no side loaded: ${result.empty_page_memory_mb} MB.`);
  console.log(`RESULT ${JSON.stringify(result)}`);
}
