//! Starting a server: what a failed start leaves behind, what the real
//! binary logs, and how database URLs are read.

use crate::harness::*;
use std::sync::Arc;
use tocsin::serve::{ServeConfig, start};

fn serve_config(dir: &std::path::Path, listen: &str, pg: Option<&PgDb>) -> ServeConfig {
    ServeConfig {
        listen: listen.into(),
        data_dir: dir.join("data"),
        config: Some(example_config()),
        database_url: pg.map(|p| p.url.clone()),
        tls: None,
        admin_token: None,
        limits: Default::default(),
        clock: Arc::new(tocsin_core::clock::SystemClock),
        run_engine: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_start_leaves_no_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();

    let failed = start(serve_config(dir.path(), &port, pg.as_ref())).await;
    let error = format!("{:#}", failed.err().expect("the port is taken"));
    assert!(error.contains("cannot listen on"), "{error}");

    let running = start(serve_config(dir.path(), "127.0.0.1:0", pg.as_ref())).await.unwrap();
    let token = running.created_admin_token.clone().expect("the first start that listens creates the admin token");
    assert!(token.starts_with("tcs_"), "{token}");
    let tokens = tocsin_client::Client::new(&format!("http://{}", running.addr), Some(&token))
        .unwrap()
        .list_tokens()
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1, "only the token that was shown exists: {tokens:?}");
    running.shutdown().await.unwrap();
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}
