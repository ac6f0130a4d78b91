//! The dataset readers on untrusted file contents. The first input byte picks
//! the format (movies, kslimon, imdb27, generic CSV, JSONL, extra) and, for the
//! generic ones, whether a title column and a label separator are named; the
//! rest is the file. Errors are expected; panics are findings.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use plotgenre::train::data::dataset::Dataset;
use plotgenre::train::data::formats::{Columns, Format};

fn format(selector: u8) -> Format {
    let columns = Columns {
        text: "plot".into(),
        title: (selector & 0x10 != 0).then(|| "title".into()),
        label: "genres".into(),
        label_sep: (selector & 0x20 != 0).then(|| "|".into()),
    };
    match selector % 6 {
        0 => Format::Movies,
        1 => Format::Kslimon,
        2 => Format::Imdb27,
        3 => Format::Csv(columns),
        4 => Format::Jsonl(columns),
        _ => Format::Extra,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, contents)) = data.split_first() else {
        return;
    };
    let _ = Dataset::parse(Path::new("fuzz-input"), contents, &format(selector));
});
