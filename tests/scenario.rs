//! The worked quorum scenario (docs/ARCHITECTURE.md, "Quorums") end to end, step by step, and the
//! disagreement rule, on real `dkvs-server` processes driven by `dkvs-client`.
//! Ports differ from the spec's, so the key's preference list is computed
//! with the library's ring and the steps stop "the first" and "the second"
//! server of that list.

use std::time::Duration;

use crate::common::*;

/// The §8 table, steps 1 to 10.
#[test]
fn section8_worked_scenario() {
    let mut c = Cluster::new(&[1, 1, 1]);
    let key = "key42";
    let order = c.replicas(key, 3);
    assert_eq!(order.len(), 3);
    let (first, second, third) = (order[0], order[1], order[2]);

    // 1. No server running: FAIL (quorum not reached, after the deadline).
    let out = c.get(&["-t", "300"], key);
    out.assert_fail(code::QUORUM);
    assert!(
        out.elapsed >= Duration::from_millis(300),
        "failed before the deadline: {out}"
    );

    c.start_all();

    // 2. Servers up, key absent: FAIL (not found).
    c.get(&[], key).assert_fail(code::NOT_FOUND);

    // 3.
    c.put_ok(&[], key, "value1");

    // 4.
    for flags in [&[][..], &["-r", "1"], &["-n", "1"]] {
        c.get(flags, key).assert_stdout("OK value1\n");
    }

    // 5. The put went to all three in parallel; the third store may lag the
    // client's exit by a moment, so allow a short bounded retry.
    let mut last = None;
    let agreed = eventually(Duration::from_secs(3), || {
        let out = c.get(&["-r", "3"], key);
        let ok = out.code == Some(0);
        last = Some(out);
        ok
    });
    assert!(agreed, "get -r 3 never agreed: {}", last.unwrap());
    last.unwrap().assert_stdout("OK value1\n");

    // 6.
    c.put_ok(&["-w", "3"], key, "NewValue");

    // 7. Stop the second server of the list (1236 in the spec).
    // (SIGTERM here, SIGKILL in step 8: both ways of stopping a server.)
    assert_eq!(c.terminate(second).code(), Some(0));
    c.get(&[], key).assert_stdout("OK NewValue\n");

    // 8. Stop the first too (1235 in the spec): only one of R=2 can answer.
    c.kill(first);
    c.get(&["-t", "500"], key).assert_fail(code::QUORUM);

    // 9. N stays 3, the third (1234 in the spec) answers.
    assert!(c.is_running(third));
    c.get(&["-r", "1"], key).assert_stdout("OK NewValue\n");

    // 10. W=3 cannot be met: FAIL, only once the deadline has passed.
    let out = c.client(&["put", "-w", "3", "-t", "700", "--", key, "x"]);
    out.assert_fail(code::QUORUM);
    assert!(
        out.elapsed >= Duration::from_millis(700),
        "put -w 3 failed before its deadline: {out}"
    );
    assert!(
        out.elapsed < Duration::from_millis(5000),
        "put -w 3 took far longer than its deadline: {out}"
    );

    // The failed put still reached the live server (it was sent to all N):
    // a put does not roll back.
    c.get(&["-r", "1"], key).assert_stdout("OK x\n");
}

/// Starts a three-server ring whose servers hold `values[i]` for `key` on
/// the i-th server of the key's preference list (`None` = absent).
fn seeded(key: &str, values: [Option<&str>; 3]) -> Cluster {
    let mut c = Cluster::new(&[1, 1, 1]);
    let order = c.replicas(key, 3);
    for (position, &server) in order.iter().enumerate() {
        match values[position] {
            Some(v) => c.start_with(server, &[(key, v)]),
            None => c.start(server),
        }
    }
    c
}

/// §8 disagreement: A, B, A with R=2 → A (whatever the order of arrival).
#[test]
fn disagreement_majority_value_wins() {
    for values in [
        [Some("A"), Some("B"), Some("A")],
        [Some("A"), Some("A"), Some("B")],
        [Some("B"), Some("A"), Some("A")],
    ] {
        let c = seeded("dis", values);
        c.get(&["-r", "2"], "dis").assert_stdout("OK A\n");
        c.get(&[], "dis").assert_stdout("OK A\n");
        // R=3 cannot be met by two equal values out of three.
        c.get(&["-r", "3", "-t", "500"], "dis")
            .assert_fail(code::QUORUM);
        // R=1 takes whichever value comes first: A or B, never a failure.
        let out = c.get(&["-r", "1"], "dis");
        assert!(
            out.stdout == "OK A\n" || out.stdout == "OK B\n",
            "get -r 1: {out}"
        );
    }
}

/// §8 disagreement: A, B, absent with R=2 → FAIL; "not found" is not a value.
#[test]
fn disagreement_without_majority_fails() {
    for values in [
        [Some("A"), Some("B"), None],
        [None, Some("A"), Some("B")],
        [Some("A"), None, Some("B")],
    ] {
        let c = seeded("split", values);
        let out = c.get(&["-r", "2", "-t", "2000"], "split");
        out.assert_fail(code::QUORUM);
        // Every server answered, so the failure is known without waiting
        // for the deadline.
        assert!(
            out.elapsed < Duration::from_millis(1500),
            "waited for the deadline although all replied: {out}"
        );
    }
    // One value and two "not found": R=2 not-found replies mean not found.
    let c = seeded("lonely", [None, Some("A"), None]);
    c.get(&["-r", "2"], "lonely").assert_fail(code::NOT_FOUND);
    c.get(&["-r", "1"], "lonely").assert_stdout("OK A\n");
}

/// Values are compared byte for byte: a value differing only in case or in
/// trailing space is a different value.
#[test]
fn values_compared_byte_for_byte() {
    let c = seeded("bytes", [Some("v"), Some("v "), Some("V")]);
    c.get(&["-r", "2"], "bytes").assert_fail(code::QUORUM);
    let c = seeded("bytes2", [Some("v w"), Some("x"), Some("v w")]);
    c.get(&["-r", "2"], "bytes2").assert_stdout("OK v w\n");
}
