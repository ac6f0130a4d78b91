//! The `plotgenre` command (feature `train`); see `plotgenre --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    match plotgenre::train::cli::commands::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the causes' own messages hold.
            let message = format!("{error:#}");
            let lines: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect();
            eprintln!("error: {}", lines.join(" "));
            ExitCode::from(2)
        }
    }
}
