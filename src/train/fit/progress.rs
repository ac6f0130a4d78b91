//! What a run shows while it trains: a progress bar over optimizer steps
//! with loss, speed and ETA on a terminal, a line every
//! [`LOG_EVERY_WITHOUT_TERMINAL`] steps elsewhere, and the mean loss of
//! every [`LOSS_LOG_EVERY`] steps for the training curve.

use indicatif::{ProgressBar, ProgressStyle};

/// Optimizer steps between two points of the training-loss curve.
pub const LOSS_LOG_EVERY: u64 = 10;
/// Optimizer steps between two progress lines when stderr is no terminal
/// (logs, CI), where the progress bar is hidden.
pub const LOG_EVERY_WITHOUT_TERMINAL: u64 = 50;

/// A run's progress display over `total` optimizer steps.
pub struct StepProgress {
    bar: ProgressBar,
    window: LossWindow,
    total: u64,
}

impl StepProgress {
    /// A display for `total` steps of which `done` are behind (a resume).
    pub fn new(total: u64, done: u64) -> Self {
        Self {
            bar: progress_bar(total, done),
            window: LossWindow::default(),
            total,
        }
    }

    /// Shows optimizer step `step` of epoch `epoch` (0-based, of `epochs`)
    /// with its `loss` and the epoch's speed; returns the mean loss of the
    /// window it completes, a point of the training curve.
    pub fn step(
        &mut self,
        step: u64,
        loss: f64,
        (epoch, epochs): (usize, usize),
        samples_per_s: f64,
    ) -> Option<f64> {
        let mean = self.window.push(loss, step);
        let status = format!(
            "epoch {}/{} · loss {:.4} · {:.1} samples/s",
            epoch + 1,
            epochs,
            self.window.last,
            samples_per_s
        );
        self.bar.set_position(step);
        if self.bar.is_hidden() && step % LOG_EVERY_WITHOUT_TERMINAL == 0 {
            println!(
                "step {step}/{} · {status} · ETA {:.0?}",
                self.total,
                self.bar.eta()
            );
        }
        self.bar.set_message(status);
        mean
    }

    /// Prints `line` above the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }

    /// Clears the bar once training is over.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// A progress bar over optimizer steps with loss, speed and ETA; drawn only
/// on a terminal.
fn progress_bar(total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_position(done);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps · {msg} · {elapsed_precise} elapsed, ETA {eta_precise}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Mean training loss over the last [`LOSS_LOG_EVERY`] steps.
#[derive(Default)]
struct LossWindow {
    sum: f64,
    count: u64,
    last: f64,
}

impl LossWindow {
    /// Adds one step's loss; returns the window's mean when it is full.
    fn push(&mut self, loss: f64, step: u64) -> Option<f64> {
        self.sum += loss;
        self.count += 1;
        self.last = self.sum / self.count as f64;
        if step % LOSS_LOG_EVERY != 0 {
            return None;
        }
        self.sum = 0.0;
        self.count = 0;
        Some(self.last)
    }
}
