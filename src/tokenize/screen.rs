//! A tokenizer.json screened before the `tokenizers` crate reads it: that
//! crate panics on some malformed JSON (an `expect` inside `decoder`, on a
//! control character, a lone surrogate or a bad escape) and, when encoding,
//! on templates it did not validate, where it should refuse them.
//!
//! The screen decodes every string as serde_json does but builds nothing:
//! building the whole document as a `serde_json::Value` (a `BTreeMap` per
//! object, the 30,000-entry vocabulary among them) took about 18 ms of every
//! `Classifier.load` in the browser.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Why `json` is not a tokenizer.json the `tokenizers` crate reads safely, if it is not.
pub(super) fn screen(json: &[u8]) -> Result<(), String> {
    let sections: Sections = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    check_templates(&sections.post_processor)
}

/// The one section of a tokenizer.json that holds templates, kept; every
/// other section read through in the same pass as [`Decoded`].
struct Sections {
    post_processor: Value,
}

impl<'de> serde::Deserialize<'de> for Sections {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SectionsVisitor)
    }
}

/// Reads the top-level object for [`Sections`].
struct SectionsVisitor;

impl<'de> Visitor<'de> for SectionsVisitor {
    type Value = Sections;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tokenizer.json object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Sections, A::Error> {
        let mut post_processor = None;
        while let Some(key) = entries.next_key::<String>()? {
            if key != "post_processor" {
                entries.next_value::<Decoded>()?;
            } else if post_processor.is_some() {
                return Err(de::Error::duplicate_field("post_processor"));
            } else {
                post_processor = Some(entries.next_value::<Value>()?);
            }
        }
        Ok(Sections {
            post_processor: post_processor.unwrap_or(Value::Null),
        })
    }
}

/// Any JSON value, read through with every string decoded, then dropped.
struct Decoded;

impl<'de> serde::Deserialize<'de> for Decoded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecodedVisitor)
    }
}

/// Reads one value of any type for [`Decoded`].
struct DecodedVisitor;

impl<'de> Visitor<'de> for DecodedVisitor {
    type Value = Decoded;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Decoded, E> {
        Ok(Decoded)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Decoded, E> {
        Ok(Decoded)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Decoded, E> {
        Ok(Decoded)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Decoded, E> {
        Ok(Decoded)
    }
    fn visit_str<E>(self, _: &str) -> Result<Decoded, E> {
        Ok(Decoded)
    }
    fn visit_unit<E>(self) -> Result<Decoded, E> {
        Ok(Decoded)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Decoded, A::Error> {
        while items.next_element::<Decoded>()?.is_some() {}
        Ok(Decoded)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Decoded, A::Error> {
        while entries.next_entry::<Decoded, Decoded>()?.is_some() {}
        Ok(Decoded)
    }
}

/// Checks every `TemplateProcessing` in a tokenizer.json as `tokenizers`
/// does only for templates built in code (it panics on encoding otherwise):
/// each special token a template names is defined, with one id per token.
fn check_templates(json: &Value) -> Result<(), String> {
    match json {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("TemplateProcessing") {
                let defined = map.get("special_tokens").and_then(Value::as_object);
                for (name, token) in defined.into_iter().flatten() {
                    let count = |key| token.get(key).and_then(Value::as_array).map(Vec::len);
                    if count("ids") != count("tokens") {
                        return Err(format!("special token {name:?}: not one id per token"));
                    }
                }
                let pieces = ["single", "pair"]
                    .into_iter()
                    .filter_map(|key| map.get(key).and_then(Value::as_array))
                    .flatten();
                for piece in pieces {
                    if let Some(name) = piece.pointer("/SpecialToken/id").and_then(Value::as_str) {
                        if !defined.is_some_and(|d| d.contains_key(name)) {
                            return Err(format!(
                                "the template names {name:?}, which is not defined"
                            ));
                        }
                    }
                }
            }
            map.values().try_for_each(check_templates)
        }
        Value::Array(items) => items.iter().try_for_each(check_templates),
        _ => Ok(()),
    }
}
