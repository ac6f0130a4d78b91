//! A batch runs in groups of texts of one token count, in parallel: every
//! text must still get the probabilities it gets alone, to float noise.

use crate::common;

const TOLERANCE: f32 = 1e-6;

/// Plots of very different lengths, so that a batch of them runs in several groups.
fn plots() -> Vec<String> {
    let sentence = "A retired detective returns to the small town where his partner vanished. ";
    (0..12)
        .map(|i| sentence.repeat(1 + i % 5 + i / 3))
        .collect()
}

#[test]
fn a_batch_gives_each_text_what_it_gets_alone() {
    let Some(pipeline) = common::shipped_pipeline() else {
        return;
    };
    let plots = plots();
    let refs: Vec<&str> = plots.iter().map(String::as_str).collect();
    let batch = pipeline.probabilities(&refs).unwrap();
    for (plot, together) in refs.iter().zip(&batch) {
        let alone = pipeline.probabilities(&[plot]).unwrap().remove(0);
        let diff = together
            .iter()
            .zip(&alone)
            .fold(0f32, |worst, (a, b)| worst.max((a - b).abs()));
        assert!(diff <= TOLERANCE, "{} bytes: differs by {diff}", plot.len());
    }
}
