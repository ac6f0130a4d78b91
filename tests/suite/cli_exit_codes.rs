//! The command's exit codes: 0 on success (including `--help`, which
//! documents them), 2 with exactly one line on stderr for every user error:
//! a bad command, flag or value, a missing or invalid file, a bad bundle.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn plotgenre(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plotgenre"))
        .args(args)
        .output()
        .unwrap()
}

/// `data` arguments for a generic CSV at `path`.
fn csv_data(path: &str) -> Vec<&str> {
    vec![
        "--format",
        "csv",
        "--data",
        path,
        "--text-col",
        "plot",
        "--label-col",
        "genres",
    ]
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

/// A small valid dataset: 40 one-label plots.
fn good_csv(dir: &Path) -> String {
    let rows: String = (0..40)
        .map(|i| format!("a plot about {i} things,Drama\n"))
        .collect();
    write(dir, "good.csv", format!("plot,genres\n{rows}").as_bytes())
}

#[test]
fn help_documents_the_exit_codes_and_success_exits_0() {
    let help = plotgenre(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Exit status: 0 on success; 2 on any error"),
        "{text}"
    );
    assert_eq!(plotgenre(&["--version"]).status.code(), Some(0));

    let dir = tempfile::tempdir().unwrap();
    let good = good_csv(dir.path());
    let mut args = vec!["data"];
    args.extend(csv_data(&good));
    let data = plotgenre(&args);
    assert_eq!(
        data.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&data.stderr)
    );
}

#[test]
fn every_user_error_exits_2_with_one_line_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let good = good_csv(dir.path());
    let bad_csv = write(
        dir.path(),
        "bad.csv",
        b"plot,genres\na plot,Drama\none,two,three\n",
    );
    let binary_csv = write(dir.path(), "binary.csv", b"plot,genres\n\xff\xfe,Drama\n");
    let bad_jsonl = write(dir.path(), "bad.jsonl", b"{\"plot\": \"x\"\nnot json\n");
    let bad_bundle = write(dir.path(), "model.plotgenre", b"PK\x03\x04 not a bundle");
    let input = write(dir.path(), "input.csv", b"plot\na plot\n");
    let missing = dir.path().join("missing.csv");
    let missing = missing.to_str().unwrap();
    let tiny = common::fixture("tiny");
    let tiny = tiny.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let under_a_file = format!("{good}/model");

    let with_csv = |command: &str, path: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec![command];
        args.extend(csv_data(path));
        args.extend(extra);
        args.into_iter().map(String::from).collect()
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("no command", vec![], "no command given"),
        (
            "unknown command",
            vec!["fit".into()],
            "unrecognized subcommand",
        ),
        (
            "unknown flag",
            vec!["data".into(), "--bogus".into()],
            "unexpected argument '--bogus'",
        ),
        (
            "missing argument",
            vec!["export".into(), "--model".into(), tiny.into()],
            "required arguments were not provided: --out <FILE>",
        ),
        (
            "bad number",
            with_csv("train", missing, &["--out", out, "--epochs", "many"]),
            "invalid value 'many' for '--epochs",
        ),
        (
            "unknown format",
            vec![
                "data".into(),
                "--format".into(),
                "parquet".into(),
                "--data".into(),
                missing.into(),
            ],
            "invalid value 'parquet' for '--format",
        ),
        (
            "csv without its columns",
            vec![
                "data".into(),
                "--format".into(),
                "csv".into(),
                "--data".into(),
                bad_csv.clone(),
            ],
            "need --text-col NAME and --label-col NAME",
        ),
        (
            "formats and files that do not pair",
            with_csv("data", &bad_csv, &["--data", missing]),
            "1 --format and 2 --data given",
        ),
        (
            "missing file",
            with_csv("data", missing, &[]),
            "missing.csv: No such file or directory (os error 2)",
        ),
        (
            "bad CSV row",
            with_csv("data", &bad_csv, &[]),
            "3 fields where the header has 2",
        ),
        (
            "CSV that is not UTF-8",
            with_csv("data", &binary_csv, &[]),
            "invalid UTF-8",
        ),
        (
            "missing column",
            vec![
                "data".into(),
                "--format".into(),
                "movies".into(),
                "--data".into(),
                bad_csv.clone(),
            ],
            "no column \"MOVIES\"",
        ),
        (
            "JSONL that is not JSON",
            vec![
                "data".into(),
                "--format".into(),
                "jsonl".into(),
                "--data".into(),
                bad_jsonl,
                "--text-col".into(),
                "plot".into(),
                "--label-col".into(),
                "genres".into(),
            ],
            "not a JSON object",
        ),
        (
            "bad bundle",
            vec![
                "predict".into(),
                "--model".into(),
                bad_bundle.clone(),
                "--input".into(),
                input.clone(),
                "--output".into(),
                out.into(),
            ],
            "not a plotgenre bundle",
        ),
        (
            "model folder without a model",
            vec![
                "predict".into(),
                "--model".into(),
                dir.path().to_str().unwrap().into(),
                "--input".into(),
                input.clone(),
                "--output".into(),
                out.into(),
            ],
            "config.json: No such file or directory (os error 2)",
        ),
        (
            "base that is not a model",
            with_csv("train", &good, &["--base", missing, "--out", out]),
            "missing.csv/config.json: No such file or directory (os error 2)",
        ),
        (
            "a bad training option",
            with_csv(
                "train",
                &good,
                &["--base", tiny, "--out", out, "--warmup", "2"],
            ),
            "error: invalid setting --warmup: must be in [0, 1)",
        ),
        (
            "a regularisation strength that is not positive",
            with_csv(
                "lexical",
                missing,
                &["--model", tiny, "--regularization-c", "1,0"],
            ),
            "invalid value '0' for '--regularization-c <C,...>...': must be a positive number",
        ),
        (
            "output folder under a file",
            with_csv("train", &good, &["--base", tiny, "--out", &under_a_file]),
            "good.csv/model: Not a directory (os error 20)",
        ),
    ];
    for (case, args, says) in cases {
        let output = plotgenre(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{case}: {}", stderr.trim_end());
        assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{case}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{case}: {stderr}"
        );
    }
}
