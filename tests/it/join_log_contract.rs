//! The recent-joins log's contract against the real Redis (the memory
//! backend runs the same contract in the store crate's unit tests).

use rectoken_store::RedisJoinLog;
use rectoken_tests::{redis_url, unique_prefix};

#[tokio::test]
async fn redis_join_log_keeps_the_contract() {
    let log = RedisJoinLog::new(&redis_url(), &unique_prefix("joinlog")).unwrap();
    rectoken_store::join_log::contract(&log).await;
}
