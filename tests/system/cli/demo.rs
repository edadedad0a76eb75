//! `csm demo --connect` against the same system again and again.

use crate::support::TestSystem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_twice_against_the_same_system() {
    let t = TestSystem::start().await;
    let first = csm_cli::demo::run(t.system.addresses, &t.tokens).await.expect("the first run completes");
    let second = csm_cli::demo::run(t.system.addresses, &t.tokens).await.expect("the second run completes");
    assert_eq!(first.work_orders, second.work_orders);
    assert_eq!(second.resolved, first.resolved);
    let opened = |r: &csm_cli::demo::DemoReport| r.opened.points.iter().map(|p| p.numerator).sum::<i64>();
    assert!(
        opened(&second) >= opened(&first) + second.work_orders as i64,
        "the second run's complaints were counted too"
    );
    t.stop().await;
}
