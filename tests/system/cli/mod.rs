//! The `csm` subcommands against a running system, run as the binary runs them: arguments parsed by
//! the same command line, output captured, outcome (the exit code) checked.

mod cases;
mod demo;
mod feed;
mod import;
mod model;
mod report;
mod taxonomy;
mod tokens;

use csm_cli::output::Outcome;

use crate::support::TestSystem;

/// Runs `csm ARGS` against `t` as `subject`; the outcome (or the error the binary would print with
/// exit code 1) and what it printed.
pub async fn csm(t: &TestSystem, subject: &str, args: &[&str]) -> (anyhow::Result<Outcome>, String) {
    let a = t.system.addresses;
    let (intake, classification, recovery, measurement) =
        (a.intake.to_string(), a.classification.to_string(), a.recovery.to_string(), a.measurement.to_string());
    let connection = [
        "--address",
        &intake,
        "--classification",
        &classification,
        "--recovery",
        &recovery,
        "--measurement",
        &measurement,
        "--token",
        t.token(subject),
    ];
    let argv = std::iter::once("csm").chain(args.iter().copied()).chain(connection);
    offline(argv.map(str::to_string).collect()).await
}

/// Runs `csm` with exactly these arguments (the program name first).
pub async fn offline(argv: Vec<String>) -> (anyhow::Result<Outcome>, String) {
    let mut out = Vec::new();
    let result = csm_cli::cli::run_args(argv, &mut out).await;
    (result, String::from_utf8(out).expect("output is UTF-8"))
}

/// Runs `csm ARGS` and expects it to finish with `expected`; returns what it printed.
pub async fn expect(t: &TestSystem, subject: &str, args: &[&str], expected: Outcome) -> String {
    let (result, out) = csm(t, subject, args).await;
    match result {
        Ok(outcome) => assert_eq!(outcome, expected, "csm {args:?} printed:\n{out}"),
        Err(error) => panic!("csm {args:?} failed: {error:#}\nprinted:\n{out}"),
    }
    out
}
