//! The lessons bundled in the binary (`lessons/NN-slug.lesson`, compiled
//! in with `include_str!`), so a class needs no file: `lesson 2` runs the
//! second one.

use super::format::{Lesson, LessonError, parse_lesson};

/// Every bundled lesson: (file name, text), in order; `lesson N` runs
/// entry N. Add a lesson by adding its line here.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "01-ring.lesson",
        include_str!("../../../lessons/01-ring.lesson"),
    ),
    (
        "02-vnodes.lesson",
        include_str!("../../../lessons/02-vnodes.lesson"),
    ),
    (
        "03-replication.lesson",
        include_str!("../../../lessons/03-replication.lesson"),
    ),
    (
        "04-quorums.lesson",
        include_str!("../../../lessons/04-quorums.lesson"),
    ),
    (
        "05-handoff.lesson",
        include_str!("../../../lessons/05-handoff.lesson"),
    ),
    (
        "06-membership.lesson",
        include_str!("../../../lessons/06-membership.lesson"),
    ),
    (
        "07-clocks.lesson",
        include_str!("../../../lessons/07-clocks.lesson"),
    ),
    (
        "08-partitions.lesson",
        include_str!("../../../lessons/08-partitions.lesson"),
    ),
];

/// Bundled lesson `number` (1-based), parsed; `None` when there is no such
/// lesson.
pub fn bundled(number: usize) -> Option<Result<Lesson, LessonError>> {
    let (file, text) = BUNDLED.get(number.checked_sub(1)?)?;
    Some(parse_lesson(text, file))
}

/// How many lessons are bundled.
pub fn count() -> usize {
    BUNDLED.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A cluster as large as `needs` asks (5 at least), on loopback.
    fn cluster(servers: usize) -> crate::config::ClusterConfig {
        let text: String = (0..servers)
            .map(|i| format!("127.0.0.1 {} 3\n", 7000 + i))
            .collect();
        crate::config::parse_servers_txt(&text, "servers.txt").unwrap()
    }

    #[test]
    fn every_bundled_lesson_parses_and_its_commands_too() {
        assert!(count() >= 1);
        for (i, (file, _)) in BUNDLED.iter().enumerate() {
            let lesson = bundled(i + 1).unwrap().unwrap_or_else(|e| panic!("{e}"));
            assert!(!lesson.steps.is_empty(), "{file}");
            let config = cluster(lesson.needs.unwrap_or(5).max(5));
            lesson
                .check_commands(&config)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(bundled(0).is_none());
        assert!(bundled(count() + 1).is_none());
    }

    #[test]
    fn bundled_file_names_are_numbered_in_order() {
        for (i, (file, _)) in BUNDLED.iter().enumerate() {
            assert!(
                file.starts_with(&format!("{:02}-", i + 1)) && file.ends_with(".lesson"),
                "{file}"
            );
        }
    }
}
