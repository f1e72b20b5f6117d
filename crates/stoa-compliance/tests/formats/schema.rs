//! The XSD: every shape of XML output validates (the other tests validate everything they
//! write, too), and xmllint does reject files that break it, so those validations can fail.

use crate::scenario::{events, export, settings, xml, xmllint};

#[test]
fn every_shape_of_xml_output_validates() {
    for one_room_per_file in [false, true] {
        for details in [false, true] {
            let output = tempfile::tempdir().unwrap();
            // `export` validates each XML file it writes against the XSD.
            let written = export(
                &settings(output.path(), xml(one_room_per_file, details)),
                &events(),
            );
            assert!(!written.is_empty());
        }
    }
}

#[test]
fn xmllint_rejects_files_that_break_the_schema() {
    let output = tempfile::tempdir().unwrap();
    let written = export(&settings(output.path(), xml(false, true)), &events());
    let original = std::fs::read_to_string(&written[0]).unwrap();
    let first_hash_attribute = original.find(" hash=\"").unwrap();
    let hash_end = first_hash_attribute + " hash=\"".len() + 64 + 1;
    let breakages = [
        (
            "a message without its hash",
            format!(
                "{}{}",
                &original[..first_hash_attribute],
                &original[hash_end..]
            ),
        ),
        (
            "an unknown message type",
            original.replacen("type=\"CHAT\"", "type=\"SAY\"", 1),
        ),
        (
            "a time that is not RFC 3339 with milliseconds",
            original.replacen(".007Z\"", "Z\"", 1),
        ),
        (
            "the same position twice in one file",
            original.replacen("position=\"2\"", "position=\"1\"", 2),
        ),
        (
            "a conversation without messages",
            original
                .lines()
                .filter(|line| !line.starts_with("      <Message "))
                .map(|line| format!("{line}\n"))
                .collect::<String>(),
        ),
        (
            "a hash that is not hex",
            original.replacen("hash=\"", "hash=\"X", 1),
        ),
    ];
    let broken = output.path().join("broken.xml");
    for (what, text) in breakages {
        assert_ne!(text, original, "{what}: the breakage changed nothing");
        std::fs::write(&broken, text).unwrap();
        assert!(
            xmllint(&broken).is_err(),
            "xmllint accepted {what}; the XSD is too loose"
        );
    }
    std::fs::write(&broken, original).unwrap();
    assert_eq!(xmllint(&broken), Ok(()));
}
