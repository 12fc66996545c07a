//! The lesson parser's tests: a full example, every error with its line,
//! and arbitrary text never panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::format::{LessonError, LineError, MAX_LESSON_BYTES, parse_bytes, parse_lesson};

const EXAMPLE: &str = "\
// a teacher's lesson
# The ring and hashing
needs: 4 servers

## Where does a key go?
Every key is hashed with SHA-1
to a point on the circle.

The first node clockwise is its home.
$ where apple
$ put apple red
? get *  | read any key back

## Kill one
\tTabs are fine.
? kill * ...
// ignored
$ status
";

fn error_of(text: &str) -> (usize, LineError) {
    match parse_lesson(text, "t.lesson").unwrap_err() {
        LessonError::At { file, line, error } => {
            assert_eq!(file, "t.lesson");
            (line, error)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_example_parses_to_its_steps() {
    let lesson = parse_lesson(EXAMPLE, "ring.lesson").unwrap();
    assert_eq!(lesson.title, "The ring and hashing");
    assert_eq!(lesson.needs, Some(4));
    assert!(!lesson.namespaces);
    let cuts = parse_lesson("# C\nneeds: 5 servers, namespaces\n## a\n", "c.lesson").unwrap();
    assert_eq!((cuts.needs, cuts.namespaces), (Some(5), true));
    assert_eq!(lesson.steps.len(), 2);
    let one = &lesson.steps[0];
    assert_eq!(one.heading, "Where does a key go?");
    assert_eq!(one.line, 5);
    assert_eq!(
        one.text,
        [
            "Every key is hashed with SHA-1 to a point on the circle.",
            "The first node clockwise is its home."
        ]
    );
    assert_eq!(
        one.commands,
        [
            (10, "where apple".to_string()),
            (11, "put apple red".to_string())
        ]
    );
    let expect = one.expect.as_ref().unwrap();
    assert_eq!(expect.shown, "read any key back");
    assert_eq!(expect.line, 12);
    assert!(expect.pattern.matches("get pear"));
    assert!(!expect.pattern.matches("get pear r=1"));
    let two = &lesson.steps[1];
    assert_eq!(two.heading, "Kill one");
    assert_eq!(two.text, ["Tabs are fine."]);
    assert_eq!(two.commands, [(18, "status".to_string())]);
    let expect = two.expect.as_ref().unwrap();
    // Without `| text` the pattern itself is shown.
    assert_eq!(expect.shown, "kill * ...");
    assert!(expect.pattern.matches("kill 2"));
}

#[test]
fn every_error_names_its_line() {
    use LineError::*;
    let cases: &[(&str, usize, LineError)] = &[
        ("", 1, MissingTitle),
        ("// only a comment\n\n", 2, MissingTitle),
        ("\nThe ring\n## a\n", 2, MissingTitle),
        ("#\n## a\n", 1, EmptyTitle),
        ("# T\n## a\n# Again\n", 3, SecondTitle),
        ("# T\nsome text\n## a\n", 2, BeforeFirstStep),
        ("# T\n$ status\n## a\n", 2, BeforeFirstStep),
        ("# T\n? get *\n## a\n", 2, BeforeFirstStep),
        ("# T\n## a\n##   \n", 3, EmptyHeading),
        ("# T\nlevel: 2\n## a\n", 2, UnknownHeader("level".into())),
        (
            "# T\nneeds: four servers\n## a\n",
            2,
            BadNeeds("four servers".into()),
        ),
        (
            "# T\nneeds: 0 servers\n## a\n",
            2,
            BadNeeds("0 servers".into()),
        ),
        ("# T\nneeds: 4\n## a\n", 2, BadNeeds("4".into())),
        (
            "# T\nneeds: 4 servers, mesh\n## a\n",
            2,
            BadNeeds("4 servers, mesh".into()),
        ),
        (
            "# T\nneeds: 2 servers\nneeds: 3 servers\n## a\n",
            3,
            SecondNeeds,
        ),
        ("# T\n## a\n$\n", 3, EmptyCommand),
        ("# T\n## a\n? get *\ntext\n? put * *\n", 5, SecondExpect(3)),
        ("# T\n## a\n?\n", 3, EmptyPattern),
        ("# T\n## a\n?  | show this\n", 3, EmptyPattern),
        (
            "# T\n## a\n? get \"x\n",
            3,
            BadPattern("unterminated quote: add the closing \"".into()),
        ),
        ("# T\nneeds: 2 servers\n", 2, NoSteps),
        ("# T\n", 1, NoSteps),
    ];
    for (text, line, error) in cases {
        assert_eq!(error_of(text), (*line, error.clone()), "{text:?}");
    }
}

#[test]
fn errors_print_as_file_line_message() {
    let e = parse_lesson("# T\n## a\n##\n", "lessons.txt").unwrap_err();
    assert_eq!(
        e.to_string(),
        "lessons.txt:3: a step needs a heading: write \"## <heading>\""
    );
    assert_eq!(e.line(), Some(3));
}

#[test]
fn bytes_that_are_not_utf8_or_too_many_are_errors() {
    let e = parse_bytes(b"# T\n## a\nok\n\xff\xfe\n", "bad.lesson").unwrap_err();
    assert_eq!(e.to_string(), "bad.lesson:4: the file is not UTF-8 text");
    let big = vec![b'a'; MAX_LESSON_BYTES + 1];
    let e = parse_bytes(&big, "big.lesson").unwrap_err();
    assert!(matches!(e, LessonError::TooLarge { size, .. } if size == MAX_LESSON_BYTES + 1));
    assert!(e.to_string().contains("256 KiB"), "{e}");
}

#[test]
fn commands_are_checked_against_the_cluster() {
    let config = crate::config::parse_servers_txt(
        "127.0.0.1 7001 2\n127.0.0.1 7002 2\n127.0.0.1 7003 2\n",
        "s",
    )
    .unwrap();
    let ok = parse_lesson("# T\n## a\n$ kill 3\n$ put k v w=2\n", "t").unwrap();
    assert_eq!(ok.check_commands(&config), Ok(()));
    // A server the lesson adds can be named afterwards.
    let added = parse_lesson("# T\n## a\n$ add 127.0.0.1:7004\n## b\n$ kill 4\n", "t").unwrap();
    assert_eq!(added.check_commands(&config), Ok(()));
    let cases = [
        ("# T\n## a\n$ kill 9\n", 3),
        ("# T\n## a\ntext\n\n$ frobnicate\n", 5),
        ("# T\n## a\n$ put k\n", 3),
    ];
    for (text, line) in cases {
        let e = parse_lesson(text, "t")
            .unwrap()
            .check_commands(&config)
            .unwrap_err();
        assert_eq!(e.line(), Some(line), "{text:?}");
        assert!(
            matches!(
                &e,
                LessonError::At {
                    error: LineError::BadCommand { .. },
                    ..
                }
            ),
            "{e}"
        );
    }
    for forbidden in ["lesson 2", "lesson next", "quit"] {
        let text = format!("# T\n## a\n$ {forbidden}\n");
        let e = parse_lesson(&text, "t")
            .unwrap()
            .check_commands(&config)
            .unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert!(
            e.to_string().contains("cannot run `lesson` or `quit`"),
            "{e}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = parse_lesson(&text, "p.lesson");
    }

    #[test]
    fn lesson_like_lines_never_panic(
        lines in proptest::collection::vec(
            "(# |## |\\$ |\\? |// |needs: |)[a-z0-9 *.|\"=:]{0,12}",
            0..20,
        )
    ) {
        let text = lines.join("\n");
        if let Ok(lesson) = parse_lesson(&text, "p.lesson") {
            proptest::prop_assert!(!lesson.steps.is_empty());
            proptest::prop_assert!(!lesson.title.is_empty());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let _ = parse_bytes(&bytes, "p.lesson");
    }
}
