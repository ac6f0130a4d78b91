//! The training command end to end on the tiny model: it learns a synthetic
//! task that is separable by keywords, `eval --json` and `predict` read what
//! it wrote, a run killed (SIGKILL) five times at different points and
//! resumed each time ends bit-identical to an uninterrupted one, and a full
//! disk or a read-only output folder stops a run with one clear line and
//! leaves its last checkpoint as it was.

use crate::common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use plotgenre::bundle::Bundle;
use plotgenre::labels::{CapOrder, Rule};
use plotgenre::model::weights;
use plotgenre::train::fit::checkpoint::Checkpoint;

/// Genres and the keyword that marks each in the synthetic plots.
const GENRES: [(&str, &str); 3] = [("Learning", "school"), ("Urban", "city"), ("Sport", "team")];
/// Words that carry no genre.
const FILLER: [&str; 16] = [
    "with", "that", "from", "were", "they", "which", "have", "first", "also", "their", "been",
    "when", "after", "there", "into", "time",
];
/// Metrics `eval --json` must print for a multi-label model.
const MULTI_LABEL_KEYS: [&str; 20] = [
    "subset_accuracy",
    "hamming_loss",
    "label_accuracy",
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "weighted_precision",
    "weighted_recall",
    "weighted_f1",
    "samples_precision",
    "samples_recall",
    "samples_f1",
    "samples_jaccard",
    "macro_roc_auc",
    "at_least_one",
    "rows",
    "labels",
];

/// Writes `rows` synthetic plots as CSV (columns plot, genres "A|B").
fn synthetic_csv(path: &Path, rows: usize) {
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(["plot", "genres"]).unwrap();
    for row in 0..rows {
        let mut words: Vec<&str> = (0..6 + next() % 6)
            .map(|_| FILLER[next() % FILLER.len()])
            .collect();
        let mut genres = Vec::new();
        for (i, (genre, keyword)) in GENRES.iter().enumerate() {
            if next() % 5 < 2 || (genres.is_empty() && i == row % GENRES.len()) {
                let at = next() % (words.len() + 1);
                words.insert(at, keyword);
                genres.push(*genre);
            }
        }
        // The row number keeps every text unique, so none is dropped as a duplicate.
        let plot = format!("{} {row}", words.join(" "));
        writer.write_record([plot, genres.join("|")]).unwrap();
    }
    writer.flush().unwrap();
}

fn plotgenre<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plotgenre"));
    command.args(args).env("RAYON_NUM_THREADS", "2");
    command
}

/// `export` of `model` (folder or bundle) into `out`, its decisions tuned
/// and its figures measured on the synthetic CSV `data`.
fn export_args(data: &Path, model: &Path, out: &Path) -> Vec<String> {
    let mut args = with_data("export", path_str(data));
    args.extend(["--model", path_str(model), "--out", path_str(out)].map(String::from));
    args
}

/// `command` with the arguments that read the synthetic CSV.
fn with_data(command: &str, data: &str) -> Vec<String> {
    [
        command,
        "--format",
        "csv",
        "--data",
        data,
        "--text-col",
        "plot",
        "--label-col",
        "genres",
        "--label-sep",
        "|",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn train_args(data: &str, out: &str, epochs: &str) -> Vec<String> {
    let base = common::fixture("tiny").display().to_string();
    let mut args = with_data("train", data);
    args.extend(
        [
            "--base",
            &base,
            "--out",
            out,
            "--epochs",
            epochs,
            "--batch-size",
            "8",
            "--lr",
            "3e-3",
            "--checkpoint-every",
            "5",
            "--patience",
            "100",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    args
}

/// `metrics.json` scores each of the four multi-label rules, and its rule
/// is one with the highest score (ties go to the earliest).
fn assert_rule_is_the_best_scored(metrics: &serde_json::Value) {
    let scores = metrics["rule_selection"]["scores"].as_array().unwrap();
    let rules: Vec<&str> = scores.iter().map(|s| s["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        ["global", "global_top1", "per_label", "per_label_top1"]
    );
    let best = scores
        .iter()
        .max_by(|a, b| {
            let score = |s: &serde_json::Value| s["score"].as_f64().unwrap();
            score(a)
                .total_cmp(&score(b))
                .then(std::cmp::Ordering::Greater)
        })
        .unwrap();
    assert_eq!(best["rule"], metrics["rule"], "{scores:?}");
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Trains the tiny model for `epochs` on `rows` synthetic plots; returns the
/// folder holding everything, the data file and the model folder.
fn trained(rows: usize, epochs: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plots.csv");
    synthetic_csv(&data, rows);
    let out = dir.path().join("model");
    run_ok(&mut plotgenre(&train_args(
        path_str(&data),
        path_str(&out),
        epochs,
    )));
    (dir, data, out)
}

#[test]
fn tiny_model_learns_a_separable_task_and_its_folder_serves_eval_and_predict() {
    let (dir, data, out) = trained(600, "8");

    for file in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "labels.json",
        "thresholds.json",
        "metrics.json",
        "report.md",
        "f1_by_genre.svg",
        "confusion_by_genre.svg",
        "training_curves.svg",
    ] {
        assert!(out.join(file).is_file(), "{file} was not written");
    }
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let rule = metrics["rule"].as_str().unwrap();
    let test_f1 = metrics["test"]["rules"][rule]["micro_f1"].as_f64().unwrap();
    assert!(
        test_f1 > 0.9,
        "test micro-F1 {test_f1} on a keyword-separable task"
    );
    assert_rule_is_the_best_scored(&metrics);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("Rules scored by micro-F1 on validation rows held out"),
        "report.md does not say how the rule was chosen"
    );
    for (genre, _) in GENRES {
        assert!(
            report.contains(&format!("| {genre} |")),
            "report.md lacks a row for {genre}"
        );
    }

    let mut eval_args = with_data("eval", path_str(&data));
    let metrics_out = dir.path().join("eval.json");
    eval_args.extend(
        [
            "--model",
            path_str(&out),
            "--json",
            "--metrics-out",
            path_str(&metrics_out),
        ]
        .map(String::from),
    );
    let eval = run_ok(&mut plotgenre(&eval_args));
    let stdout = String::from_utf8(eval.stdout).unwrap();
    let object: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("stdout is one JSON object");
    for key in MULTI_LABEL_KEYS {
        assert!(
            object.get(key).is_some(),
            "eval --json lacks {key}: {stdout}"
        );
    }
    assert_eq!(object["labels"], 3);
    assert!(
        (object["micro_f1"].as_f64().unwrap() - test_f1).abs() < 1e-9,
        "eval agrees with training's test figure"
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metrics_out).unwrap()).unwrap();
    assert_eq!(
        written["report"]["rules"][rule]["micro_f1"], object["micro_f1"],
        "--metrics-out holds the printed figure under the model's rule"
    );
    // Without --metrics-out, eval prints its table and writes nothing.
    let quiet_dir = tempfile::tempdir().unwrap();
    let quiet = run_ok(plotgenre(&eval_args[..eval_args.len() - 3]).current_dir(quiet_dir.path()));
    let table = String::from_utf8(quiet.stdout).unwrap();
    assert!(
        table.contains("micro_f1"),
        "eval prints its metrics: {table}"
    );
    assert_eq!(
        std::fs::read_dir(quiet_dir.path()).unwrap().count(),
        0,
        "eval without --metrics-out wrote into the working folder"
    );

    let input = dir.path().join("input.csv");
    std::fs::write(
        &input,
        "id,plot\n1,they were at school with their team\n2,from the city\n",
    )
    .unwrap();
    let predictions = dir.path().join("predictions.csv");
    run_ok(&mut plotgenre(&[
        "predict",
        "--model",
        path_str(&out),
        "--input",
        path_str(&input),
        "--output",
        path_str(&predictions),
    ]));
    let mut reader = csv::Reader::from_path(&predictions).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "plot",
            "predicted_genres",
            "p_Learning",
            "p_Sport",
            "p_Urban"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(&rows[0][2], "Learning|Sport");
    assert_eq!(&rows[1][2], "Urban");
    assert_eval_all_and_predict_notes(dir.path(), &out, &predictions);

    // The exported bundle is the same model: exactly at f32, nearly at q8_0.
    for (quant, tolerance) in [("f32", 1e-9), ("q8_0", 0.02)] {
        let f1 = exported_micro_f1(dir.path(), &out, &data, quant, &eval_args);
        assert!(
            (f1 - test_f1).abs() <= tolerance,
            "{quant} bundle: micro-F1 {f1} against the folder's {test_f1}"
        );
    }
    assert_export_keeps_rule_and_cap(dir.path(), &out, &data);
}

/// `export` with data re-fits a folder's temperature and thresholds to the
/// bundle's probabilities but keeps the folder's rule, genre cap and cap
/// order, whatever tuning afresh would choose.
fn assert_export_keeps_rule_and_cap(dir: &Path, model: &Path, data: &Path) {
    let edited = dir.join("edited-decisions");
    std::fs::create_dir_all(&edited).unwrap();
    for entry in std::fs::read_dir(model).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, edited.join(path.file_name().unwrap())).unwrap();
        }
    }
    let thresholds_file = edited.join("thresholds.json");
    let mut thresholds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&thresholds_file).unwrap()).unwrap();
    thresholds["rule"] = "per_label_top1".into();
    thresholds["max_genres"] = 1.into();
    thresholds["cap_order"] = "margin".into();
    std::fs::write(&thresholds_file, thresholds.to_string()).unwrap();

    let bundle = dir.join("edited.plotgenre");
    run_ok(&mut plotgenre(&export_args(data, &edited, &bundle)));
    let manifest = Bundle::from_bytes(&std::fs::read(&bundle).unwrap())
        .unwrap()
        .manifest;
    let kept = &manifest.thresholds;
    assert_eq!(
        (kept.rule, kept.max_genres, kept.cap_order),
        (Rule::PerLabelTop1, Some(1), CapOrder::Margin)
    );
    let decisions = &manifest.provenance.decisions;
    assert_eq!(decisions["kept_from_model"]["rule"], "per_label_top1");
    assert_eq!(decisions["rule_selection"][0]["rule"], "per_label_top1");
}

/// `eval --split all` scores every row and names the data's genres the model
/// lacks; `predict` on its own output replaces its columns, says so, and
/// prints the rule it applied.
fn assert_eval_all_and_predict_notes(dir: &Path, model: &Path, predictions: &Path) {
    let data = dir.join("own.csv");
    std::fs::write(
        &data,
        "plot,genres\nat school 1,Learning\nin the city 2,Urban|Western\nthe team 3,Sport\n",
    )
    .unwrap();
    let mut args = with_data("eval", path_str(&data));
    args.extend(["--model", path_str(model), "--split", "all", "--json"].map(String::from));
    let eval = run_ok(&mut plotgenre(&args));
    let object: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(object["rows"], 3, "every row is scored");
    let stderr = String::from_utf8_lossy(&eval.stderr);
    assert!(
        stderr.contains("the model lacks these genres of the data: Western"),
        "{stderr}"
    );

    let again = dir.join("again.csv");
    let predict = run_ok(&mut plotgenre(&[
        "predict",
        "--model",
        path_str(model),
        "--input",
        path_str(predictions),
        "--output",
        path_str(&again),
    ]));
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(predictions).unwrap()
    );
    let stderr = String::from_utf8_lossy(&predict.stderr);
    assert!(
        stderr.contains(
            "replaced the input's own columns predicted_genres, p_Learning, p_Sport, p_Urban"
        ),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&predict.stdout);
    assert!(
        stdout.contains("(2 rows classified)") && stdout.contains("rule: "),
        "{stdout}"
    );
}

/// Exports `model` at `quant` into `dir`, measuring itself on the test split
/// of `data`, and returns the bundle's micro-F1 from `eval_args` (an eval
/// command line) with its `--model` swapped; the figures the bundle records
/// as its own must be eval's, next to the folder's f32 ones.
fn exported_micro_f1(
    dir: &Path,
    model: &Path,
    data: &Path,
    quant: &str,
    eval_args: &[String],
) -> f64 {
    let bundle = dir.join(format!("model-{quant}.plotgenre"));
    let mut export = export_args(data, model, &bundle);
    export.extend(["--quant", quant].map(String::from));
    run_ok(&mut plotgenre(&export));
    let mut args = eval_args.to_vec();
    let model_at = args.iter().position(|a| a == "--model").unwrap() + 1;
    args[model_at] = path_str(&bundle).to_string();
    let eval = run_ok(&mut plotgenre(&args));
    let object: serde_json::Value =
        serde_json::from_str(String::from_utf8(eval.stdout).unwrap().trim()).unwrap();
    let micro_f1 = object["micro_f1"].as_f64().unwrap();
    let recorded = Bundle::from_bytes(&std::fs::read(&bundle).unwrap())
        .unwrap()
        .manifest
        .provenance
        .metrics;
    assert_eq!(recorded["bundle"]["micro_f1"].as_f64(), Some(micro_f1));
    assert!(recorded["f32"]["micro_f1"].is_number(), "{recorded}");
    assert_tuning_a_bundle_again_keeps_it(dir, &bundle, data);
    micro_f1
}

/// `export --model BUNDLE` keeps the bundle's stored weights byte for byte
/// and, tuning on the same probabilities, the decisions and figures the
/// first export chose, and records the rule it kept and that rule's score;
/// it refuses data whose test split is not the bundle's.
fn assert_tuning_a_bundle_again_keeps_it(dir: &Path, bundle: &Path, data: &Path) {
    let again = dir.join("again.plotgenre");
    let output = run_ok(&mut plotgenre(&export_args(data, bundle, &again)));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("decisions tuned on the bundle's own"),
        "{output:?}"
    );
    let [first, second] =
        [bundle, &again].map(|path| Bundle::from_bytes(&std::fs::read(path).unwrap()).unwrap());
    let stored = |b: &Bundle| {
        let mut tensors: Vec<(String, Vec<u8>)> = (b.tensors.iter())
            .map(|(name, t)| (name.clone(), t.data().unwrap().to_vec()))
            .collect();
        tensors.sort();
        tensors
    };
    assert!(stored(&first) == stored(&second), "the weights changed");
    assert_eq!(first.manifest.thresholds, second.manifest.thresholds);
    let metrics = |b: &Bundle| b.manifest.provenance.metrics["bundle"].clone();
    assert_eq!(metrics(&first), metrics(&second));
    let decisions = &second.manifest.provenance.decisions;
    let rule = serde_json::to_value(first.manifest.thresholds.rule).unwrap();
    assert_eq!(decisions["kept_from_model"]["rule"], rule, "{decisions}");
    let scores = decisions["rule_selection"].as_array().unwrap();
    assert!(
        scores.len() == 1 && scores[0]["rule"] == rule && scores[0]["score"].is_number(),
        "{decisions}"
    );

    // Other data would tune and score it on rows it trained on: refused.
    let other = dir.join("other.csv");
    synthetic_csv(&other, 50);
    let message = one_line_failure(&mut plotgenre(&export_args(&other, bundle, &again)));
    assert!(message.contains("test rows"), "{message}");
}

/// The tensors of a safetensors file, as raw bytes by name.
fn tensor_bytes(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    tensors.sort();
    tensors
}

/// The largest change of tensor `name` from the tiny base model to the
/// trained `model` folder.
fn moved_from_base(model: &Path, name: &str) -> f32 {
    let tensor = |path: &Path| {
        weights::from_safetensors(&std::fs::read(path).unwrap())
            .unwrap()
            .remove(name)
            .unwrap()
    };
    common::max_abs_diff(
        &tensor(&common::fixture("tiny/model.safetensors")),
        &tensor(&model.join("model.safetensors")),
    )
}

#[test]
fn layer_wise_decay_slows_the_embeddings_and_leaves_the_top_layer_at_full_rate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plots.csv");
    synthetic_csv(&data, 120);
    let train = |decay: &str| {
        let out = dir.path().join(format!("decay-{decay}"));
        let mut args = train_args(path_str(&data), path_str(&out), "1");
        args.extend(["--layer-lr-decay".to_string(), decay.to_string()]);
        run_ok(&mut plotgenre(&args));
        out
    };
    let (uniform, decayed) = (train("1"), train("0.1"));
    let embeddings = "distilbert.embeddings.word_embeddings.weight";
    let top = "distilbert.transformer.layer.1.ffn.lin2.weight";
    let (embeddings_uniform, embeddings_decayed) = (
        moved_from_base(&uniform, embeddings),
        moved_from_base(&decayed, embeddings),
    );
    assert!(
        embeddings_decayed < 0.05 * embeddings_uniform,
        "embeddings moved {embeddings_decayed} at 1/100 of the rate, {embeddings_uniform} at full rate"
    );
    let (top_uniform, top_decayed) = (
        moved_from_base(&uniform, top),
        moved_from_base(&decayed, top),
    );
    assert!(
        top_decayed > 0.3 * top_uniform,
        "the top layer moved {top_decayed} under decay, {top_uniform} without"
    );
}

/// Where each kill lands: once the checkpoint on disk has reached (epoch,
/// batch), after a delay that moves it into a step, a checkpoint write or an
/// epoch's end (validation, best-model write).
const KILLS: [((usize, usize), u64); 5] = [
    ((0, 5), 0),
    ((0, 70), 11),
    ((0, 130), 3),
    ((1, 40), 29),
    ((2, 0), 0),
];

/// (epoch, next batch) of the checkpoint in `out`, if one loads.
fn checkpoint_position(out: &Path) -> Option<(usize, usize)> {
    let checkpoint = Checkpoint::read(out).ok()?;
    Some((checkpoint.progress.epoch, checkpoint.progress.next_batch))
}

/// Temporary files of interrupted writes left in `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "tmp"))
        .collect()
}

#[test]
fn a_run_killed_five_times_and_resumed_ends_bit_identical_to_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plots.csv");
    synthetic_csv(&data, 1500);
    let data = path_str(&data);
    let whole: PathBuf = dir.path().join("whole");
    // The reference run goes alongside the killed ones.
    let mut uninterrupted = plotgenre(&train_args(data, path_str(&whole), "3"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let resumed = dir.path().join("resumed");
    let args = train_args(data, path_str(&resumed), "3");
    let mut resume_args = args.clone();
    resume_args.extend(["--resume".to_string(), path_str(&resumed).to_string()]);
    let mut positions = Vec::new();
    for (kill, &(at, delay_ms)) in KILLS.iter().enumerate() {
        let mut child = plotgenre(if kill == 0 { &args } else { &resume_args })
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        let seen = loop {
            assert!(
                Instant::now() < deadline,
                "kill {kill}: no checkpoint at {at:?}"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "kill {kill}: the run ended before reaching {at:?}"
            );
            match checkpoint_position(&resumed) {
                Some(position) if position >= at && positions.last() < Some(&position) => {
                    break position
                }
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        assert!(
            !child.wait().unwrap().success(),
            "kill {kill}: the run finished first"
        );
        let after = checkpoint_position(&resumed)
            .unwrap_or_else(|| panic!("kill {kill} left a checkpoint that does not load"));
        assert!(
            after >= seen,
            "kill {kill}: the checkpoint went back from {seen:?} to {after:?}"
        );
        positions.push(after);
    }
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "kills at the same point: {positions:?}"
    );
    assert!(
        !resumed.join("thresholds.json").exists(),
        "killed before the end"
    );

    let last = positions[positions.len() - 1];
    let output = run_ok(&mut plotgenre(&resume_args));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("{} epochs and {} batches done", last.0, last.1)),
        "the resume starts from the last checkpoint {last:?}: {stdout}"
    );
    assert!(
        uninterrupted.wait().unwrap().success(),
        "the uninterrupted run failed"
    );
    println!("killed at (epoch, batch) {positions:?}, then resumed to the end");

    assert!(
        std::fs::read(whole.join("model.safetensors")).unwrap()
            == std::fs::read(resumed.join("model.safetensors")).unwrap(),
        "best weights differ"
    );
    let checkpoint = |out: &Path| tensor_bytes(&out.join("checkpoint.safetensors"));
    assert!(
        checkpoint(&whole) == checkpoint(&resumed),
        "final weights or optimizer state differ"
    );
    assert_eq!(
        std::fs::read(whole.join("thresholds.json")).unwrap(),
        std::fs::read(resumed.join("thresholds.json")).unwrap()
    );
    assert_eq!(leftovers(&resumed), Vec::<PathBuf>::new());
}

/// `plotgenre args` with files capped at `kib` KiB (RLIMIT_FSIZE, with
/// SIGXFSZ ignored): a write past the cap fails as on a full disk.
fn with_file_size_cap(kib: u64, args: &[String]) -> Command {
    let mut command = Command::new("bash");
    command
        .args(["-c", r#"trap '' XFSZ; ulimit -f "$0"; exec "$@""#])
        .arg(kib.to_string())
        .arg(env!("CARGO_BIN_EXE_plotgenre"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2");
    command
}

/// Runs `command`, expecting exit code 2 and one line on stderr; returns the line.
fn one_line_failure(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{command:?}: {stderr}");
    stderr
}

#[test]
fn a_full_disk_or_a_read_only_folder_stops_a_run_and_keeps_its_checkpoint() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plots.csv");
    synthetic_csv(&data, 300);
    let out = dir.path().join("model");
    let args = train_args(path_str(&data), path_str(&out), "2");
    let mut resume_args = args.clone();
    resume_args.extend(["--resume".to_string(), path_str(&out).to_string()]);
    let mut first = plotgenre(&args).stdout(Stdio::null()).spawn().unwrap();
    while checkpoint_position(&out).is_none() {
        assert!(first.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let checkpoint = out.join("checkpoint.safetensors");
    let saved = std::fs::read(&checkpoint).unwrap();
    let assert_intact = || {
        assert!(
            std::fs::read(&checkpoint).unwrap() == saved,
            "the checkpoint changed"
        );
        assert_eq!(leftovers(&out), Vec::<PathBuf>::new());
    };

    // The checkpoint is about 1.8 MB: its next write fails.
    let full = one_line_failure(&mut with_file_size_cap(64, &resume_args));
    assert!(
        full.starts_with(&format!("error: {}: File too large", checkpoint.display())),
        "{full}"
    );
    assert_intact();

    // Root writes through permissions, so then the run drops to nobody.
    let permissions = |mode| std::fs::Permissions::from_mode(mode);
    std::fs::set_permissions(dir.path(), permissions(0o755)).unwrap();
    std::fs::set_permissions(&out, permissions(0o555)).unwrap();
    let mut read_only = plotgenre(&resume_args);
    if tempfile::tempfile_in(&out).is_ok() {
        // nobody may not reach the build folder (CI keeps it under /root): run a copy.
        let exe = dir.path().join("plotgenre");
        std::fs::copy(env!("CARGO_BIN_EXE_plotgenre"), &exe).unwrap();
        read_only = Command::new(&exe);
        read_only
            .args(&resume_args)
            .env("RAYON_NUM_THREADS", "2")
            .uid(65534)
            .gid(65534);
    }
    let refused = one_line_failure(&mut read_only);
    std::fs::set_permissions(&out, permissions(0o755)).unwrap();
    assert!(
        refused.starts_with(&format!("error: {}: Permission denied", out.display())),
        "{refused}"
    );
    assert_intact();

    run_ok(&mut plotgenre(&resume_args));
    assert!(out.join("thresholds.json").is_file(), "the run finished");
}

#[test]
fn resume_refuses_a_checkpoint_of_other_settings() {
    let (_dir, data, out) = trained(200, "1");
    let mut args = train_args(path_str(&data), path_str(&out), "2");
    args.extend(["--resume".to_string(), path_str(&out).to_string()]);
    let output = plotgenre(&args).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("other training options"), "{stderr}");
}

#[test]
fn a_lexical_model_lifts_a_weak_encoder_and_travels_in_its_bundle() {
    let (dir, data, out) = trained(600, "1");
    let test_f1 = |out: &Path| {
        let metrics: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
        let rule = metrics["rule"].as_str().unwrap().to_string();
        (
            metrics["test"]["rules"][&rule]["micro_f1"]
                .as_f64()
                .unwrap(),
            metrics,
        )
    };
    let (encoder_only, _) = test_f1(&out);
    let mut args = with_data("lexical", path_str(&data));
    // A C that leaves the word weights near zero adds nothing to the blend.
    args.extend(["--model", path_str(&out), "--regularization-c", "0.001,10"].map(String::from));
    let stdout = String::from_utf8(run_ok(&mut plotgenre(&args)).stdout).unwrap();
    assert!(stdout.contains("features; C 10; share"), "{stdout}");
    let (blended, metrics) = test_f1(&out);
    assert!(
        blended > 0.95 && blended > encoder_only,
        "a keyword task: the blend scores {blended}, the one-epoch encoder {encoder_only}"
    );
    assert_rule_is_the_best_scored(&metrics);
    assert!(metrics["lexical"]["features"].as_u64().unwrap() > 0);
    let share = metrics["lexical"]["share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "share {share}");
    assert_eq!(metrics["lexical"]["regularization_c"].as_f64(), Some(10.0));
    let scores = metrics["lexical"]["validation_scores"].as_array().unwrap();
    assert_eq!(scores.len(), 2 * 7, "every (C, share) pair is scored");
    let best = |c: f64| {
        scores
            .iter()
            .filter(|s| s["c"].as_f64() == Some(c))
            .map(|s| s["score"].as_f64().unwrap())
            .fold(f64::NEG_INFINITY, f64::max)
    };
    assert!(best(10.0) > best(0.001), "{scores:?}");

    // A bundle is the blended model: exactly at f32, nearly at q4_0.
    let mut eval_args = with_data("eval", path_str(&data));
    let metrics_out = dir.path().join("eval.json");
    eval_args.extend(
        [
            "--json",
            "--metrics-out",
            path_str(&metrics_out),
            "--model",
            path_str(&out),
        ]
        .map(String::from),
    );
    for (quant, tolerance) in [("f32", 1e-9), ("q4_0", 0.02)] {
        let f1 = exported_micro_f1(dir.path(), &out, &data, quant, &eval_args);
        assert!(
            (f1 - blended).abs() <= tolerance,
            "{quant} bundle: micro-F1 {f1} against the blended folder's {blended}"
        );
    }

    // `--share 1` is the lexical model alone, the TF-IDF + LR baseline.
    args.extend(["--share", "1"].map(String::from));
    run_ok(&mut plotgenre(&args));
    let (alone, metrics) = test_f1(&out);
    assert_eq!(metrics["lexical"]["share"].as_f64(), Some(1.0));
    let scores = metrics["lexical"]["validation_scores"].as_array().unwrap();
    assert_eq!(scores.len(), 2, "one share at each C: {scores:?}");
    assert!(
        alone > 0.95,
        "a keyword task: TF-IDF + LR alone scores {alone}"
    );
}

/// The training-loss curve of a model folder: (step, loss) points.
fn loss_curve(model: &Path) -> Vec<(u64, f64)> {
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("metrics.json")).unwrap()).unwrap();
    serde_json::from_value(metrics["training"]["history"]["loss"].clone()).unwrap()
}

#[test]
fn batches_run_in_shards_train_the_weights_the_whole_batches_do_up_to_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plots.csv");
    synthetic_csv(&data, 80);
    let train = |shards: &str, seed: &str| {
        let out = dir.path().join(format!("model-{shards}-{seed}"));
        let mut args = train_args(path_str(&data), path_str(&out), "2");
        args.extend(["--shards", shards, "--seed", seed].map(String::from));
        run_ok(&mut plotgenre(&args));
        out
    };
    let whole = train("1", "42");
    let sharded = train("3", "42");
    let reseeded = train("1", "43");
    let weights = |model: &Path| {
        weights::from_safetensors(&std::fs::read(model.join("model.safetensors")).unwrap()).unwrap()
    };
    let largest_difference = |a: &Path, b: &Path| {
        let (a, b) = (weights(a), weights(b));
        a.iter()
            .map(|(name, tensor)| common::max_abs_diff(tensor, &b[name]))
            .fold(0f32, f32::max)
    };
    // AdamW steps a weight whose gradient is near zero by about the learning
    // rate whatever the gradient's size, so rounding can move a few weights
    // by a fraction of it; other masks or batches move them all.
    let rounding = largest_difference(&whole, &sharded);
    let other_draws = largest_difference(&whole, &reseeded);
    assert!(
        rounding * 100.0 < other_draws,
        "3 shards moved a weight by {rounding} from whole batches (another seed: {other_draws})"
    );
    let (whole_loss, sharded_loss) = (loss_curve(&whole), loss_curve(&sharded));
    assert!(!whole_loss.is_empty());
    assert_eq!(whole_loss.len(), sharded_loss.len());
    for ((step, a), (other_step, b)) in whole_loss.iter().zip(&sharded_loss) {
        assert_eq!(step, other_step);
        assert!(
            (a - b).abs() < 1e-5 * a.abs(),
            "loss at step {step}: {a} against {b}"
        );
    }
}
