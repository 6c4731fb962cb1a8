-- Memory Asset Layer indexer schema (see docs/indexer.md, section "Schema").
--
-- Conventions, used in every table:
--   * every row carries `chain_id`, so one database can hold several chains;
--   * addresses are `bytea` of exactly 20 bytes, hashes/digests/checksums `bytea` of 32 bytes;
--   * uint256 values are `numeric(78,0)`, uint64 values `numeric(20,0)`;
--   * event rows carry (block_number, log_index, tx_hash, block_timestamp) and are unique on
--     (chain_id, tx_hash, log_index): the database itself refuses a duplicate event;
--   * `block_timestamp` is unix seconds (NULL only if the RPC node does not report it).

-- ---------------------------------------------------------------------------------------------
-- Ingestion bookkeeping
-- ---------------------------------------------------------------------------------------------

-- Indexing status, one row per chain. `indexed_block` is the checkpoint: every block up to and
-- including it is fully indexed, and it is written in the same transaction as the rows.
CREATE TABLE chain_state (
    chain_id        bigint PRIMARY KEY,
    nft_address     bytea NOT NULL CHECK (length(nft_address) = 20),
    market_address  bytea NOT NULL CHECK (length(market_address) = 20),
    start_block     bigint NOT NULL CHECK (start_block >= 0),
    indexed_block   bigint NOT NULL,
    indexed_hash    bytea,
    head_block      bigint,
    head_seen_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Headers of the unfinalized window (number, hash, parent_hash): reorg detection compares a
-- new block's parent hash with the stored hash. Rows at or below the finalized block are pruned.
CREATE TABLE blocks (
    chain_id     bigint NOT NULL,
    number       bigint NOT NULL,
    hash         bytea  NOT NULL CHECK (length(hash) = 32),
    parent_hash  bytea  NOT NULL CHECK (length(parent_hash) = 32),
    timestamp    bigint NOT NULL,
    PRIMARY KEY (chain_id, number)
);

-- Undo journal for overwritten derived state, kept for unfinalized blocks only. One row per
-- (entity, key, block that changed it) holding the value before that block. A rollback to fork
-- block F restores, for every key, the old value of its earliest entry above F.
--   entity 'owner'   : key = token id (decimal), old_value = 20-byte owner
--   entity 'account' : key = token id (decimal), old_value = 20-byte account or NULL
CREATE TABLE journal (
    chain_id      bigint NOT NULL,
    block_number  bigint NOT NULL,
    seq           bigserial,
    entity        text   NOT NULL,
    key           text   NOT NULL,
    old_value     bytea,
    PRIMARY KEY (chain_id, block_number, seq)
);

-- ---------------------------------------------------------------------------------------------
-- Memories (MemoryMinted + derived current state)
-- ---------------------------------------------------------------------------------------------

-- One row per minted token: the MemoryMinted event plus derived state kept current by the
-- indexer: `owner` (last ERC-721 Transfer) and `account` (the token's ERC-6551 account, the
-- first one created with the configured account implementation).
CREATE TABLE memories (
    chain_id         bigint        NOT NULL,
    token_id         numeric(78,0) NOT NULL,
    creator          bytea         NOT NULL CHECK (length(creator) = 20),
    checksum         bytea         NOT NULL CHECK (length(checksum) = 32),
    kind             smallint      NOT NULL,          -- 0 WMatrix, 1 KVCache, 2 Other
    source_model     text          NOT NULL,
    target_model     text          NOT NULL,
    version          text          NOT NULL,
    uri              text          NOT NULL,
    royalty_bps      integer       NOT NULL,
    parents          numeric(78,0)[] NOT NULL,        -- as emitted, in order
    owner            bytea         NOT NULL CHECK (length(owner) = 20),
    account          bytea         CHECK (length(account) = 20),
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    PRIMARY KEY (chain_id, token_id),
    UNIQUE (chain_id, tx_hash, log_index)
);
-- keyset pagination is by token_id, so every filter index ends with it
CREATE INDEX memories_owner_idx   ON memories (chain_id, owner, token_id);
CREATE INDEX memories_creator_idx ON memories (chain_id, creator, token_id);
CREATE INDEX memories_kind_idx    ON memories (chain_id, kind, token_id);
CREATE INDEX memories_models_idx  ON memories (chain_id, source_model, target_model, token_id);
CREATE INDEX memories_target_idx  ON memories (chain_id, target_model, token_id);
CREATE INDEX memories_account_idx ON memories (chain_id, account);
CREATE INDEX memories_checksum_idx ON memories (chain_id, checksum);
CREATE INDEX memories_block_idx   ON memories (chain_id, block_number);

-- Provenance edges (child derived from parent). Children always have higher ids, so the graph
-- is acyclic; ancestors/descendants are recursive CTEs over this table.
CREATE TABLE memory_parents (
    chain_id      bigint        NOT NULL,
    child_id      numeric(78,0) NOT NULL,
    parent_id     numeric(78,0) NOT NULL,
    position      smallint      NOT NULL,
    block_number  bigint        NOT NULL,
    PRIMARY KEY (chain_id, child_id, parent_id)
);
CREATE INDEX memory_parents_parent_idx ON memory_parents (chain_id, parent_id, child_id);
CREATE INDEX memory_parents_block_idx  ON memory_parents (chain_id, block_number);

-- ERC-721 Transfer events of the token contract (mint = from the zero address).
CREATE TABLE transfers (
    chain_id         bigint        NOT NULL,
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    token_id         numeric(78,0) NOT NULL,
    from_address     bytea         NOT NULL CHECK (length(from_address) = 20),
    to_address       bytea         NOT NULL CHECK (length(to_address) = 20),
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX transfers_token_idx ON transfers (chain_id, token_id, block_number, log_index);
CREATE INDEX transfers_from_idx  ON transfers (chain_id, from_address, block_number);
CREATE INDEX transfers_to_idx    ON transfers (chain_id, to_address, block_number);
CREATE INDEX transfers_block_idx ON transfers (chain_id, block_number);

-- ---------------------------------------------------------------------------------------------
-- Certificates
-- ---------------------------------------------------------------------------------------------

-- One row per CertificateAnchored (the whole Certificate struct). `revoked*` is derived from
-- CertificateRevoked; a certificate is revoked at most once, so `revoked_block` is its own undo
-- record. Active = not revoked and expires_at > now (see the view below).
CREATE TABLE certificates (
    chain_id           bigint        NOT NULL,
    digest             bytea         NOT NULL CHECK (length(digest) = 32),
    token_id           numeric(78,0) NOT NULL,
    certifier          bytea         NOT NULL CHECK (length(certifier) = 20),
    checksum           bytea         NOT NULL CHECK (length(checksum) = 32),
    test_set_checksum  bytea         NOT NULL CHECK (length(test_set_checksum) = 32),
    epsilon_ppm        bigint        NOT NULL,
    rel_error_ppm      bigint        NOT NULL,
    cosine_ppm         integer       NOT NULL,
    euclidean_ppm      numeric(20,0) NOT NULL,
    test_samples       bigint        NOT NULL,
    level              smallint      NOT NULL,          -- 1 bronze, 2 silver, 3 gold, 4 platinum
    issued_at          numeric(20,0) NOT NULL,          -- unix seconds
    expires_at         numeric(20,0) NOT NULL,          -- unix seconds
    nonce              numeric(78,0) NOT NULL,
    revoked            boolean       NOT NULL DEFAULT false,
    revoked_block      bigint,
    revoked_tx_hash    bytea,
    block_number       bigint        NOT NULL,
    log_index          integer       NOT NULL,
    tx_hash            bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp    bigint,
    PRIMARY KEY (chain_id, digest),
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX certificates_token_idx     ON certificates (chain_id, token_id, block_number DESC, log_index DESC);
CREATE INDEX certificates_certifier_idx ON certificates (chain_id, certifier, block_number);
CREATE INDEX certificates_epsilon_idx   ON certificates (chain_id, epsilon_ppm) WHERE NOT revoked;
CREATE INDEX certificates_block_idx     ON certificates (chain_id, block_number);
CREATE INDEX certificates_revoked_block_idx ON certificates (chain_id, revoked_block) WHERE revoked_block IS NOT NULL;

-- The active certificate of each token: the most recently anchored one that is neither revoked
-- nor expired.
CREATE VIEW active_certificates AS
SELECT DISTINCT ON (chain_id, token_id) *
FROM certificates
WHERE NOT revoked AND expires_at > extract(epoch FROM now())
ORDER BY chain_id, token_id, block_number DESC, log_index DESC;

-- CertificateRevoked events.
CREATE TABLE certificate_revocations (
    chain_id         bigint        NOT NULL,
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    token_id         numeric(78,0) NOT NULL,
    digest           bytea         NOT NULL CHECK (length(digest) = 32),
    certifier        bytea         NOT NULL CHECK (length(certifier) = 20),
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX certificate_revocations_token_idx ON certificate_revocations (chain_id, token_id);
CREATE INDEX certificate_revocations_block_idx ON certificate_revocations (chain_id, block_number);

-- CertifierSet events (current state: the latest row per certifier).
CREATE TABLE certifier_changes (
    chain_id         bigint  NOT NULL,
    block_number     bigint  NOT NULL,
    log_index        integer NOT NULL,
    tx_hash          bytea   NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    certifier        bytea   NOT NULL CHECK (length(certifier) = 20),
    allowed          boolean NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX certifier_changes_certifier_idx ON certifier_changes (chain_id, certifier, block_number DESC, log_index DESC);
CREATE INDEX certifier_changes_block_idx     ON certifier_changes (chain_id, block_number);

-- ---------------------------------------------------------------------------------------------
-- ERC-6551 accounts
-- ---------------------------------------------------------------------------------------------

-- ERC6551AccountCreated events of the canonical registry whose tokenContract is our token.
CREATE TABLE accounts (
    chain_id          bigint        NOT NULL,
    block_number      bigint        NOT NULL,
    log_index         integer       NOT NULL,
    tx_hash           bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp   bigint,
    account           bytea         NOT NULL CHECK (length(account) = 20),
    implementation    bytea         NOT NULL CHECK (length(implementation) = 20),
    salt              bytea         NOT NULL CHECK (length(salt) = 32),
    account_chain_id  numeric(78,0) NOT NULL,
    token_contract    bytea         NOT NULL CHECK (length(token_contract) = 20),
    token_id          numeric(78,0) NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX accounts_token_idx   ON accounts (chain_id, token_id, block_number, log_index);
CREATE INDEX accounts_account_idx ON accounts (chain_id, account);
CREATE INDEX accounts_block_idx   ON accounts (chain_id, block_number);

-- ---------------------------------------------------------------------------------------------
-- Market
-- ---------------------------------------------------------------------------------------------

-- One row per Listed event. `status` is derived: 'open' until the listing is cancelled, sold
-- or replaced by a new Listed of the same token; each row changes status at most once, so
-- `closed_block` is its own undo record. At most one open listing per token.
CREATE TABLE listings (
    chain_id          bigint        NOT NULL,
    block_number      bigint        NOT NULL,
    log_index         integer       NOT NULL,
    tx_hash           bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp   bigint,
    token_id          numeric(78,0) NOT NULL,
    seller            bytea         NOT NULL CHECK (length(seller) = 20),
    price             numeric(78,0) NOT NULL,
    account_state     numeric(78,0) NOT NULL,
    status            text          NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'cancelled', 'sold', 'replaced')),
    closed_block      bigint,
    closed_tx_hash    bytea,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE UNIQUE INDEX listings_open_token_idx ON listings (chain_id, token_id) WHERE status = 'open';
CREATE INDEX listings_token_idx   ON listings (chain_id, token_id, block_number DESC, log_index DESC);
CREATE INDEX listings_seller_idx  ON listings (chain_id, seller, block_number DESC);
CREATE INDEX listings_status_idx  ON listings (chain_id, status, token_id);
CREATE INDEX listings_block_idx   ON listings (chain_id, block_number);
CREATE INDEX listings_closed_block_idx ON listings (chain_id, closed_block) WHERE closed_block IS NOT NULL;

-- ListingCancelled events.
CREATE TABLE listing_cancellations (
    chain_id         bigint        NOT NULL,
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    token_id         numeric(78,0) NOT NULL,
    seller           bytea         NOT NULL CHECK (length(seller) = 20),
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX listing_cancellations_token_idx ON listing_cancellations (chain_id, token_id);
CREATE INDEX listing_cancellations_block_idx ON listing_cancellations (chain_id, block_number);

-- Sold events.
CREATE TABLE sales (
    chain_id         bigint        NOT NULL,
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    token_id         numeric(78,0) NOT NULL,
    seller           bytea         NOT NULL CHECK (length(seller) = 20),
    buyer            bytea         NOT NULL CHECK (length(buyer) = 20),
    price            numeric(78,0) NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX sales_token_idx  ON sales (chain_id, token_id, block_number DESC, log_index DESC);
CREATE INDEX sales_seller_idx ON sales (chain_id, seller, block_number DESC);
CREATE INDEX sales_buyer_idx  ON sales (chain_id, buyer, block_number DESC);
CREATE INDEX sales_block_idx  ON sales (chain_id, block_number);

-- RoyaltyPaid events.
CREATE TABLE royalty_payments (
    chain_id              bigint        NOT NULL,
    block_number          bigint        NOT NULL,
    log_index             integer       NOT NULL,
    tx_hash               bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp       bigint,
    sale_token_id         numeric(78,0) NOT NULL,
    beneficiary_token_id  numeric(78,0) NOT NULL,
    recipient             bytea         NOT NULL CHECK (length(recipient) = 20),
    amount                numeric(78,0) NOT NULL,
    credited              boolean       NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX royalty_payments_recipient_idx   ON royalty_payments (chain_id, recipient, block_number DESC, log_index DESC);
CREATE INDEX royalty_payments_beneficiary_idx ON royalty_payments (chain_id, beneficiary_token_id, block_number DESC, log_index DESC);
CREATE INDEX royalty_payments_sale_idx        ON royalty_payments (chain_id, sale_token_id, block_number DESC);
CREATE INDEX royalty_payments_block_idx       ON royalty_payments (chain_id, block_number);

-- Derived royalty totals per (beneficiary token, recipient); a rollback subtracts the rolled
-- back payments. Sum over either key for per-token or per-recipient totals.
CREATE TABLE royalty_totals (
    chain_id              bigint        NOT NULL,
    beneficiary_token_id  numeric(78,0) NOT NULL,
    recipient             bytea         NOT NULL CHECK (length(recipient) = 20),
    total                 numeric(78,0) NOT NULL,
    payments              bigint        NOT NULL,
    PRIMARY KEY (chain_id, beneficiary_token_id, recipient)
);
CREATE INDEX royalty_totals_recipient_idx ON royalty_totals (chain_id, recipient);

-- Credited events (pull-payment ledger).
CREATE TABLE credits (
    chain_id         bigint        NOT NULL,
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    account          bytea         NOT NULL CHECK (length(account) = 20),
    amount           numeric(78,0) NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX credits_account_idx ON credits (chain_id, account, block_number DESC);
CREATE INDEX credits_block_idx   ON credits (chain_id, block_number);

-- Withdrawn events (pull-payment ledger).
CREATE TABLE withdrawals (
    chain_id         bigint        NOT NULL,
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    account          bytea         NOT NULL CHECK (length(account) = 20),
    amount           numeric(78,0) NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX withdrawals_account_idx ON withdrawals (chain_id, account, block_number DESC);
CREATE INDEX withdrawals_block_idx   ON withdrawals (chain_id, block_number);
