//! A JSON-RPC proxy between the indexer and anvil, for fault injection: it forwards every call
//! unchanged except what the current [`Faults`] say. Listens on 127.0.0.1, port 0.
//!
//! Today it can pin the head (a backend behind a load balancer that lags). Extend [`Faults`]
//! with further faults (errors, delays, dropped or truncated answers, another chain id) and
//! apply them in [`answer`]: each call is seen there as one JSON-RPC request object.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use alloy::transports::http::reqwest;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

/// What the proxy changes in the answers of the upstream node.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Pretend the chain head is this block, like a backend that lags behind: `eth_blockNumber`
    /// answers it, `eth_getBlockByNumber` of a tag (`latest`, `safe`, `finalized`, `pending`)
    /// answers this block, and of a higher number `null` (not found). Other calls pass.
    pub head: Option<u64>,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<Faults>,
    calls: Mutex<HashMap<String, u64>>,
}

/// A running proxy; stops when dropped.
pub struct RpcProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    /// Starts a proxy of the JSON-RPC endpoint `upstream` (e.g. `anvil.endpoint()`).
    pub async fn spawn(upstream: &str) -> RpcProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            client: reqwest::Client::new(),
            faults: Mutex::new(Faults::default()),
            calls: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let app = axum::Router::new()
            .route("/", post(handle))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RpcProxy { addr, shared, task }
    }

    /// The proxy's URL (what the indexer's `rpc_url` should be).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the faults (applies to the next call).
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// How many calls of `method` the proxy has seen.
    pub fn calls(&self, method: &str) -> u64 {
        self.shared
            .calls
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, body: Bytes) -> axum::Json<Value> {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let res = match req {
        Value::Array(calls) => {
            let mut out = Vec::with_capacity(calls.len());
            for c in calls {
                out.push(answer(&shared, c).await);
            }
            Value::Array(out)
        }
        call => answer(&shared, call).await,
    };
    axum::Json(res)
}

fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

/// The answer to one JSON-RPC request object: made up by a fault, or the upstream's.
async fn answer(shared: &Shared, mut call: Value) -> Value {
    let method = call["method"].as_str().unwrap_or_default().to_string();
    *shared
        .calls
        .lock()
        .unwrap()
        .entry(method.clone())
        .or_default() += 1;
    let faults = shared.faults.lock().unwrap().clone();
    let id = call["id"].clone();
    let made_up = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
    if let Some(head) = faults.head {
        match method.as_str() {
            "eth_blockNumber" => return made_up(json!(format!("{head:#x}"))),
            "eth_getBlockByNumber" => match quantity(&call["params"][0]) {
                Some(n) if n > head => return made_up(Value::Null),
                Some(_) => {}
                None if call["params"][0].as_str() != Some("earliest") => {
                    call["params"][0] = json!(format!("{head:#x}"));
                }
                None => {}
            },
            _ => {}
        }
    }
    forward(shared, &call).await
}

async fn forward(shared: &Shared, call: &Value) -> Value {
    let res = shared
        .client
        .post(&shared.upstream)
        .json(call)
        .send()
        .await
        .and_then(|r| r.error_for_status());
    let body = match res {
        Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    body.unwrap_or_else(|e| {
        json!({"jsonrpc": "2.0", "id": call["id"].clone(), "error": {"code": -32603, "message": format!("proxy: {e}")}})
    })
}
