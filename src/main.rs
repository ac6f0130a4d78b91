//! The `plotgenre` command (feature `train`); see `plotgenre --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match plotgenre::train::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
