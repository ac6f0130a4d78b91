//! `plotgenre import-base` as a user runs it: a DistilBERT checkpoint is
//! copied into a loadable model folder, and bad input ends with exit code 2
//! and one line naming the problem.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use plotgenre::model::{self, Mode};

fn plotgenre(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plotgenre"))
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Imports the tiny DistilBERT fixture into a fresh folder, which must succeed.
fn import_tiny(extra_args: &[&str]) -> (tempfile::TempDir, Output) {
    let out = tempfile::tempdir().unwrap();
    let tiny = common::fixture("tiny");
    let mut args = vec![
        "import-base",
        "--from",
        tiny.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra_args);
    let output = plotgenre(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    (out, output)
}

#[test]
fn imports_a_distilbert_checkpoint_unchanged() {
    let (out, output) = import_tiny(&[]);
    let tiny = common::fixture("tiny");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("DistilBERT (copied)"), "{stdout}");

    let read = |dir: &Path, name: &str| std::fs::read(dir.join(name)).unwrap();
    let (config, imported) = model::load_encoder(
        &read(out.path(), "config.json"),
        &read(out.path(), "model.safetensors"),
    )
    .unwrap();
    assert!(config.id2label.is_empty(), "a base model has no head");
    let (_, original) = model::load_encoder(
        &read(&tiny, "config.json"),
        &read(&tiny, "model.safetensors"),
    )
    .unwrap();
    let expected = common::json("tiny/expected.json");
    let ids = common::u32_matrix(&expected["input_ids"]);
    let mask = common::u32_matrix(&expected["attention_mask"]);
    let a = imported.forward(&ids, &mask, Mode::Infer).unwrap();
    let b = original.forward(&ids, &mask, Mode::Infer).unwrap();
    assert_eq!(common::max_abs_diff(&a, &b), 0.0);
    assert_eq!(
        read(out.path(), "tokenizer.json"),
        read(&tiny, "tokenizer.json")
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        3,
        "only the three model files, no temp files: {leftovers:?}"
    );
}

#[test]
fn pooling_can_be_chosen() {
    let (out, _) = import_tiny(&["--pooling", "mean"]);
    let config =
        model::Config::from_json(&std::fs::read(out.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config.pooling, model::Pooling::Mean);
}

#[test]
fn pooling_named_by_the_folder_is_kept() {
    let (mean, _) = import_tiny(&["--pooling", "mean"]);
    let out = tempfile::tempdir().unwrap();
    let output = plotgenre(&[
        "import-base",
        "--from",
        mean.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let config =
        model::Config::from_json(&std::fs::read(out.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config.pooling, model::Pooling::Mean, "re-import keeps mean");
    assert!(String::from_utf8_lossy(&output.stdout).contains("pooling: mean"));
}

/// Runs `import-base --from FROM --out OUT`, which must fail with exit code 2
/// and one stderr line containing `expected`.
fn import_fails_with(from: &str, out: &Path, expected: &str) {
    let output = plotgenre(&[
        "import-base",
        "--from",
        from,
        "--out",
        out.to_str().unwrap(),
    ]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains(expected),
        "expected {expected:?} in: {message}"
    );
    assert_eq!(message.lines().count(), 1, "one line: {message}");
    assert!(!out.exists(), "nothing written on failure");
}

#[test]
fn bad_sources_fail_with_a_message_naming_the_problem() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("base");
    import_fails_with("/no/such/folder", &out_dir, "/no/such/folder");

    let broken = tempfile::tempdir().unwrap();
    let broken_arg = broken.path().to_str().unwrap();
    for name in ["config.json", "tokenizer.json"] {
        std::fs::copy(common::fixture("tiny").join(name), broken.path().join(name)).unwrap();
    }
    import_fails_with(broken_arg, &out_dir, "model.safetensors is missing");

    let weights = broken.path().join("model.safetensors");
    std::fs::write(&weights, b"\x08\0\0\0\0\0\0\0{}garbage").unwrap();
    import_fails_with(
        broken_arg,
        &out_dir,
        "model.safetensors: not a readable safetensors file",
    );

    std::fs::copy(common::fixture("tiny/model.safetensors"), &weights).unwrap();
    std::fs::write(
        broken.path().join("config.json"),
        br#"{"model_type": "gpt2"}"#,
    )
    .unwrap();
    import_fails_with(broken_arg, &out_dir, "\"gpt2\" is not supported");

    std::fs::write(broken.path().join("config.json"), b"{ not json").unwrap();
    import_fails_with(broken_arg, &out_dir, "config.json");

    import_fails_with("hf:distilbert-base-uncased", &out_dir, "--from DIR");
}
