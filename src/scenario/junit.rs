//! `wasmctl test --junit`: the summary as a JUnit XML report, the format CI systems (GitLab,
//! Jenkins, GitHub's test reporters) read. One test suite per scenario file, one test case per
//! case.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::report::{CaseReport, ScenarioReport};
use super::suite::TestSummary;

/// The report's XML.
pub fn junit_report(summary: &TestSummary) -> String {
    let mut report = Report::new("wasmctl test");
    report.set_time(summary.scenarios.iter().map(|s| s.elapsed).sum());
    let host = if summary.in_envoy {
        "envoy"
    } else {
        "built-in"
    };
    for scenario in &summary.scenarios {
        report.add_test_suite(suite(scenario, host));
    }
    // Serializing to a String writes to memory only; the one error it has is an I/O error.
    report.to_string().expect("a report serializes to memory")
}

fn suite(scenario: &ScenarioReport, host: &str) -> TestSuite {
    let file = scenario.path.display().to_string();
    let mut suite = TestSuite::new(scenario.name.as_str());
    suite
        .set_time(scenario.elapsed)
        .add_property(Property::new("file", file.as_str()))
        .add_property(Property::new(
            "plugin",
            scenario.plugin.display().to_string(),
        ))
        .add_property(Property::new("host", host));
    for case in &scenario.cases {
        let mut test_case = TestCase::new(case.name.as_str(), status(case));
        test_case.set_classname(file.as_str());
        if !case.unchecked.is_empty() {
            let lines: Vec<String> = case
                .unchecked
                .iter()
                .map(|why| format!("not checked: {why}"))
                .collect();
            test_case.set_system_out(lines.join("\n"));
        }
        suite.add_test_case(test_case);
    }
    suite
}

/// Passed, failed with every expectation it missed, or skipped with why.
fn status(case: &CaseReport) -> TestCaseStatus {
    if let Some(why) = &case.skipped {
        let mut status = TestCaseStatus::skipped();
        status.set_message(why.as_str());
        return status;
    }
    let Some(first) = case.failures.first() else {
        return TestCaseStatus::success();
    };
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status
        .set_message(first.as_str())
        .set_type("expectation")
        .set_description(case.failures.join("\n"));
    status
}
