//! A JSON-RPC proxy between the indexer and anvil, for fault injection: it forwards every call
//! unchanged except what the current [`Faults`] say. Listens on 127.0.0.1, port 0.
//!
//! It can pin the head (a backend behind a load balancer that lags), answer `eth_getLogs` as a
//! backend one block behind would, drop a non-empty `eth_getLogs` answer, duplicate a log, and
//! strip `blockTimestamp` from logs. Extend [`Faults`] with further faults and apply them in
//! [`answer`]: each call is seen there as one JSON-RPC request object. [`RpcProxy::hits`] says
//! how often a fault changed an answer.

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
    /// Answer `eth_getLogs` as a backend one block behind the upstream head would (a load
    /// balancer whose log backend lags the one that served the header): a query by number
    /// loses the logs of the upstream's latest block, a query by the latest block's hash fails
    /// with `unknown block`. Counted as `logs_behind` when a log was dropped or a call failed.
    pub logs_behind: bool,
    /// Answer this many non-empty `eth_getLogs` calls with `[]` (counted as `drop_logs`).
    pub drop_logs: u32,
    /// Repeat the first log of this many non-empty `eth_getLogs` answers (counted as
    /// `duplicate_log`).
    pub duplicate_log: u32,
    /// Remove `blockTimestamp` from every log of `eth_getLogs` answers (counted as
    /// `strip_timestamps` per log).
    pub strip_timestamps: bool,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    faults: Mutex<Faults>,
    calls: Mutex<HashMap<String, u64>>,
    hits: Mutex<HashMap<&'static str, u64>>,
}

impl Shared {
    fn hit(&self, fault: &'static str, n: u64) {
        *self.hits.lock().unwrap().entry(fault).or_default() += n;
    }
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
            hits: Mutex::new(HashMap::new()),
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

    /// The current faults (the counted ones go down as they are used).
    pub fn faults(&self) -> Faults {
        self.shared.faults.lock().unwrap().clone()
    }

    /// How often the fault named `fault` (a field of [`Faults`]) changed an answer.
    pub fn hits(&self, fault: &str) -> u64 {
        self.shared
            .hits
            .lock()
            .unwrap()
            .get(fault)
            .copied()
            .unwrap_or(0)
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
    if method == "eth_getLogs" {
        return logs(shared, &call, &faults).await;
    }
    forward(shared, &call).await
}

/// An `eth_getLogs` answer with the log faults applied.
async fn logs(shared: &Shared, call: &Value, faults: &Faults) -> Value {
    let id = call["id"].clone();
    let filter = &call["params"][0];
    let latest = if faults.logs_behind {
        let req = json!({"jsonrpc": "2.0", "id": 0, "method": "eth_getBlockByNumber", "params": ["latest", false]});
        let b = forward(shared, &req).await;
        quantity(&b["result"]["number"]).zip(b["result"]["hash"].as_str().map(str::to_string))
    } else {
        None
    };
    if let Some((_, hash)) = &latest
        && filter["blockHash"].as_str() == Some(hash.as_str())
    {
        shared.hit("logs_behind", 1);
        return json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "unknown block"}});
    }
    let mut res = forward(shared, call).await;
    let Some(list) = res["result"].as_array_mut() else {
        return res;
    };
    if let Some((number, _)) = latest {
        let before = list.len();
        list.retain(|l| quantity(&l["blockNumber"]).is_none_or(|n| n < number));
        if list.len() < before {
            shared.hit("logs_behind", 1);
        }
    }
    if !list.is_empty() {
        let mut f = shared.faults.lock().unwrap();
        if f.drop_logs > 0 {
            f.drop_logs -= 1;
            list.clear();
            shared.hit("drop_logs", 1);
        } else if f.duplicate_log > 0 {
            f.duplicate_log -= 1;
            let first = list[0].clone();
            list.push(first);
            shared.hit("duplicate_log", 1);
        }
    }
    if faults.strip_timestamps {
        let mut n = 0;
        for l in list.iter_mut() {
            if l.as_object_mut()
                .and_then(|o| o.remove("blockTimestamp"))
                .is_some()
            {
                n += 1;
            }
        }
        shared.hit("strip_timestamps", n);
    }
    res
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
