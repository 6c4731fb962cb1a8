//! Contract bindings generated with alloy's `sol!` from the committed ABIs in `contracts/abi/`
//! (regenerated from forge output by `scripts/abi`), the single source of truth for events.

#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    MemoryNFT,
    "../contracts/abi/MemoryNFT.json"
);

sol!(
    #[sol(rpc)]
    MemoryMarket,
    "../contracts/abi/MemoryMarket.json"
);

sol!(
    #[sol(rpc)]
    ERC6551Registry,
    "../contracts/abi/ERC6551Registry.json"
);
