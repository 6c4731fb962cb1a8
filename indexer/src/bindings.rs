//! Contract bindings: alloy `sol!` types generated from the committed ABIs in `contracts/abi/`,
//! shared with the CLI through the `memory-bindings` crate (one source of truth for events).

pub use memory_bindings::{ERC6551Registry, IMemoryNFT, MemoryAccount, MemoryMarket, MemoryNFT};
