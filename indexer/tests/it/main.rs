//! Integration tests of the indexer against real PostgreSQL (DATABASE_URL, see scripts/pg)
//! and real anvil (node_modules/.bin/anvil).

mod api;
mod api_e2e;
mod api_hostile;
mod api_liveness;
mod api_openapi;
mod api_pools;
mod approvals;
mod chain;
mod cli;
mod crash;
mod db;
mod fixtures;
mod head;
mod rpc_faults;
mod writers;
