//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use workflow_rt::store::Store;
use workflow_rt::{MemoryStore, Runtime, VirtualClock};

/// 2024-01-01T00:00:00Z, where the tests' virtual clocks start.
pub const T0: u64 = 1_704_067_200_000;

/// Polls `check` every millisecond until it holds; panics with `what` after 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Bounds a future by 10 s of real time.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// A memory store and a virtual clock, shared with the test.
pub fn memory() -> (Arc<MemoryStore>, VirtualClock) {
    (Arc::new(MemoryStore::new()), VirtualClock::new(T0))
}

/// A builder on `store` and `clock` that polls often (tests want answers in milliseconds).
pub fn builder(store: Arc<dyn Store>, clock: VirtualClock) -> workflow_rt::Builder {
    Runtime::builder()
        .store(store)
        .clock(clock)
        .poll_interval(Duration::from_millis(5))
        .seed(7)
}
