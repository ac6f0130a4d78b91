//! Batch files as people have them read alike in `predict` and the page
//! (`plotgenre::table`): the separator found on the header line, Windows-1252
//! decoded, ragged rows set aside by line, an empty file called empty.

use plotgenre::table::{self, BadRow};

fn message(bytes: &[u8]) -> String {
    table::read(bytes).expect_err("refused").to_string()
}

#[test]
fn semicolon_tab_and_pipe_separated_files_are_read_by_their_header() {
    for (separator, name) in [(';', "semicolons"), ('\t', "tabs"), ('|', "pipes")] {
        let text = format!("title{separator}plot\nHeat{separator}a heist, a chase\n");
        let read = table::read(text.as_bytes()).expect("readable");
        assert_eq!(read.delimiter, separator);
        assert_eq!(read.header, ["title", "plot"]);
        assert_eq!(read.rows, [["Heat", "a heist, a chase"]]);
        assert!(read.bad_rows.is_empty(), "{:?}", read.bad_rows);
        assert_eq!(
            read.note().as_deref(),
            Some(&*format!("read fields separated by {name}"))
        );
    }
    let quoted = table::read(b"\"title; year\",plot\n\"A; 1999\",x\n").expect("readable");
    assert_eq!(
        quoted.delimiter, ',',
        "a separator inside quotes does not count"
    );
    assert_eq!(quoted.note(), None);
}

#[test]
fn windows_1252_is_decoded_and_said_and_a_bom_is_dropped() {
    let read = table::read(b"title;plot\nCaf\xe9;na\xefve \x93heist\x94\n").expect("readable");
    assert_eq!(read.encoding, "windows-1252");
    assert_eq!(read.rows, [["Café", "naïve \u{201c}heist\u{201d}"]]);
    assert_eq!(
        read.note().as_deref(),
        Some("read decoded as windows-1252, fields separated by semicolons")
    );
    let bom = table::read("\u{feff}plot\nCafé\n".as_bytes()).expect("readable");
    assert_eq!(
        (bom.encoding.as_str(), bom.header.as_slice()),
        ("UTF-8", &["plot".to_string()][..])
    );
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("plot\nCafé\n".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let read = table::read(&utf16).expect("readable");
    assert_eq!(
        (read.encoding.as_str(), read.rows.as_slice()),
        ("UTF-16LE", &[vec!["Café".to_string()]][..])
    );
}

#[test]
fn only_bytes_that_cannot_be_text_are_refused() {
    let binary = message(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff");
    assert!(binary.contains("not a text file"), "{binary}");
}

#[test]
fn a_ragged_row_is_set_aside_by_line_and_the_rest_is_read() {
    let read = table::read(b"title,plot\nA,one\nB\nC,\"two\nlines\"\nD,three,extra\nE,four\n")
        .expect("readable");
    assert_eq!(
        read.rows,
        [["A", "one"], ["C", "two\nlines"], ["E", "four"]]
    );
    assert_eq!(read.row_lines, [2, 4, 7]);
    assert_eq!(
        read.bad_rows,
        [
            BadRow {
                line: 3,
                reason: "1 fields, the header has 2".into(),
                fields: vec!["B".into()],
            },
            BadRow {
                line: 6,
                reason: "3 fields, the header has 2".into(),
                fields: vec!["D".into(), "three".into(), "extra".into()],
            },
        ]
    );
    assert_eq!(read.fit_to_header(&read.bad_rows[0].fields), ["B", ""]);
    assert_eq!(read.fit_to_header(&read.bad_rows[1].fields), ["D", "three"]);
}

#[test]
fn an_empty_file_says_it_is_empty() {
    for bytes in [&b""[..], b"  \r\n\n", b"\xef\xbb\xbf"] {
        assert_eq!(message(bytes), "empty file", "{bytes:?}");
    }
    let header_only = table::read(b"plot\n").expect("readable");
    assert!(header_only.rows.is_empty());
}
