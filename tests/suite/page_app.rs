//! The static page (www/) as an app people keep, in headless Chromium:
//! tests/browser/app.mjs drives fresh browser profiles through a first visit
//! (layout shift on a desktop and a phone), Chromium's installability check,
//! two tabs opening at once, and the model card, online and offline; each
//! test here checks one part of its report. With
//! `PLOTGENRE_UPDATE_SCREENSHOT=1` (`make screenshot`) the run also replaces
//! the README's phone screenshot, docs/screenshot-phone.png.
//! Needs `make site` and `make browser-deps` (`make test` runs both).

use crate::common;

use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Cumulative layout shift a first visit may cause, up to the model's ready state.
const MAX_CLS: f64 = 0.05;

/// Runs app.mjs once for every test; `None` when its inputs are missing (skipped).
fn report() -> Option<&'static Value> {
    static REPORT: OnceLock<Option<Value>> = OnceLock::new();
    REPORT
        .get_or_init(|| {
            let root = common::root();
            if !common::available(&root.join("www/pkg/shell.js"), "run `make site`")
                || !common::available(
                    &root.join("tests/browser/node_modules/playwright-core"),
                    "run `make browser-deps`",
                )
                || !common::available(
                    &root.join("www/models/model.plotgenre"),
                    "the shipped model; `make export` writes one",
                )
            {
                return None;
            }
            let work = tempfile::Builder::new()
                .prefix(".browser-test-")
                .tempdir_in(&root)
                .unwrap();
            let phone = work.path().join("phone.png");
            let output = Command::new("node")
                .arg(root.join("tests/browser/app.mjs"))
                .arg("--site")
                .arg(root.join("www"))
                .arg("--work")
                .arg(work.path().join("scratch"))
                .arg("--phone-screenshot")
                .arg(&phone)
                .output()
                .expect("node runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let report: Value = serde_json::from_str(stdout.trim())
                .unwrap_or_else(|e| panic!("bad app.mjs output ({e}): {stdout}\n{stderr}"));
            assert_eq!(
                report["ok"], true,
                "app run failed: {}\n{stderr}",
                report["error"]
            );
            if common::env_flag("PLOTGENRE_UPDATE_SCREENSHOT") {
                std::fs::copy(&phone, root.join("docs/screenshot-phone.png")).unwrap();
            }
            Some(report)
        })
        .as_ref()
}

/// One scenario's report; `None` (skipped) without the inputs, a failure when it broke.
fn scenario(name: &str) -> Option<&'static Value> {
    let found = &report()?[name];
    assert!(
        found["error"].is_null(),
        "{name} failed: {}",
        found["error"]
    );
    Some(found)
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

#[test]
fn loading_the_model_does_not_shift_the_page() {
    for device in ["desktop", "phone"] {
        let Some(visit) = scenario(device) else {
            return;
        };
        let cls = visit["cls"].as_f64().unwrap();
        assert!(
            cls < MAX_CLS,
            "{device}: layout shift {cls:.3} while loading: {}",
            visit["shifts"]
        );
    }
}

#[test]
fn notices_are_as_wide_as_the_content() {
    for device in ["desktop", "phone"] {
        let Some(visit) = scenario(device) else {
            return;
        };
        let widths = &visit["widths"];
        for notice in ["loading", "problem", "update"] {
            assert_eq!(widths[notice], widths["content"], "{device}: {widths}");
        }
    }
}

#[test]
fn chromium_finds_the_page_installable() {
    let Some(install) = scenario("install") else {
        return;
    };
    assert_eq!(
        strings(&install["errors"]),
        Vec::<String>::new(),
        "installability errors: {install}"
    );
    assert_eq!(strings(&install["manifestErrors"]), Vec::<String>::new());
    let manifest = &install["manifest"];
    for key in [
        "name",
        "short_name",
        "description",
        "theme_color",
        "background_color",
    ] {
        assert!(
            manifest[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key}: {manifest}"
        );
    }
    assert_eq!(manifest["display"], "standalone");
    // Relative, so the page installs wherever it is deployed (here /deploy/app/).
    for key in ["start_url", "scope"] {
        assert_eq!(manifest[key], "./", "{key}");
    }
    assert!(install["manifestUrl"]
        .as_str()
        .unwrap()
        .starts_with(install["page"].as_str().unwrap()));
}

#[test]
fn the_app_icons_are_pngs_of_their_stated_sizes_kept_offline() {
    let Some(install) = scenario("install") else {
        return;
    };
    let icons = install["icons"].as_array().unwrap();
    let mut found = Vec::new();
    for icon in icons {
        let sizes = icon["sizes"].as_str().unwrap();
        if sizes == "any" {
            continue;
        }
        assert_eq!(icon["type"], "image/png", "{icon}");
        assert_eq!(
            sizes,
            format!("{}x{}", icon["width"], icon["height"]),
            "{icon}"
        );
        found.push(format!("{} {sizes}", icon["purpose"].as_str().unwrap()));
    }
    for wanted in [
        "any 192x192",
        "any 512x512",
        "maskable 192x192",
        "maskable 512x512",
    ] {
        assert!(found.contains(&wanted.to_string()), "{wanted}: {found:?}");
    }
    assert!(
        icons.iter().all(|icon| icon["cached"] == true),
        "icons kept for offline use: {icons:?}"
    );
    let head = &install["head"];
    let schemes: Vec<String> = head["themeColors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[1].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        schemes.iter().any(|m| m.contains("light")) && schemes.iter().any(|m| m.contains("dark")),
        "theme-color for both schemes: {schemes:?}"
    );
    assert!(head["appleTouchIcon"].as_str().is_some(), "{head}");
}

#[test]
fn two_tabs_on_a_first_visit_download_the_model_once() {
    let Some(tabs) = scenario("tabs") else { return };
    assert_eq!(tabs["downloads"], 1, "{tabs}");
    let bytes = std::fs::metadata(common::root().join("www/models/model.plotgenre"))
        .unwrap()
        .len();
    for tab in tabs["tabs"].as_array().unwrap() {
        assert_eq!(tab["status"], "Model ready · works offline");
        // The tab that waited showed the other's download to the end.
        assert_eq!(tab["progress"], serde_json::json!([bytes, bytes]), "{tab}");
    }
}

#[test]
fn the_card_panel_speaks_to_visitors_and_states_the_cap() {
    let Some(card) = scenario("card") else { return };
    let panel = &card["panel"];
    let card = panel["card"].as_str().unwrap();
    let metrics = panel["metrics"].as_str().unwrap();
    for jargon in [
        "../",
        "shared/data",
        "q4_0",
        "global_top1",
        "global top1",
        "_",
    ] {
        assert!(!card.contains(jargon), "{jargon:?} in {card:?}");
        assert!(!metrics.contains(jargon), "{jargon:?} in {metrics:?}");
    }
    let bundle = shipped_bundle();
    let thresholds = &bundle.manifest.thresholds;
    let threshold = format!("{:.0}%", thresholds.global * 100.0);
    let cap = format!("at most {} genres per plot", thresholds.max_genres.unwrap());
    for said in [
        "movies, kslimon, and extra",
        "4-bit weights",
        &cap,
        &threshold,
    ] {
        assert!(card.contains(said), "{said:?} not in {card:?}");
    }
    // The figures are those of the model the page runs, as the bundle measured itself.
    let own = &bundle.manifest.provenance.metrics["bundle"];
    let micro_f1 = format!("{:.3}", own["micro_f1"].as_f64().unwrap());
    let cells = |starting: &str| -> Vec<&str> {
        let line = metrics.lines().find(|line| line.starts_with(starting));
        line.unwrap_or_default()
            .split('\t')
            .map(str::trim)
            .collect()
    };
    let column = cells("Figure")
        .iter()
        .position(|&name| name == "This page's model (4-bit weights)");
    let shown = column.and_then(|at| cells("F1 over all genre decisions").get(at).copied());
    assert_eq!(
        shown,
        Some(micro_f1.as_str()),
        "the page's own micro-F1 in its own column: {metrics}"
    );
}

/// The shipped bundle, read natively.
fn shipped_bundle() -> plotgenre::bundle::Bundle {
    let path = common::root().join("www/models/model.plotgenre");
    plotgenre::bundle::Bundle::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_full_model_card_opens_in_the_page_offline_too() {
    let Some(card) = scenario("card") else { return };
    for when in ["online", "offline"] {
        let shown = &card[when];
        assert_eq!(
            shown["heading"], "Model card: plotgenre default model",
            "{when}"
        );
        assert!(shown["tables"].as_u64().unwrap() >= 3, "{when}: {shown}");
        let text = shown["text"].as_str().unwrap();
        assert!(!text.contains("## "), "{when}: markdown left raw");
        assert_eq!(
            shown["focused"], "card-dialog",
            "{when}: focus moves into the dialog"
        );
        assert_eq!(shown["closed"], true, "{when}: Escape closes it");
        // The card's own HTML shows as text, runs nothing and fetches nothing.
        assert!(text.contains("<img src=\"x\""), "{when}");
        assert_eq!(shown["images"], 0, "{when}");
        assert_eq!(shown["xss"], Value::Null, "{when}");
    }
    assert_eq!(card["remote"], 0);
}
