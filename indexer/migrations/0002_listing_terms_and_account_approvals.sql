-- The contracts of issue 8 (see docs/indexer.md, section "Schema"): listings with an id, an
-- expiry and the token's transfer count; withdrawals to another address; certificates that name
-- their creator; and the approvals granted by token-bound accounts on any contract.
--
-- Columns added to tables that may already hold rows get a value for those rows: derived from
-- the other tables where the old contracts define it (a withdrawal went to its account, a
-- certificate's creator is its token's creator, transfer counts are counted), else 0 (listings of
-- the old contracts had no id and no expiry: they show as not live).

-- ---------------------------------------------------------------------------------------------
-- Checkpoint time: listings are live while `expires_at >= indexed_timestamp` (the contract's
-- `block.timestamp <= expiresAt`, evaluated at the indexed block)
-- ---------------------------------------------------------------------------------------------
ALTER TABLE chain_state ADD COLUMN indexed_timestamp bigint;
UPDATE chain_state s SET indexed_timestamp = b.timestamp
FROM blocks b WHERE b.chain_id = s.chain_id AND b.number = s.indexed_block;

-- ---------------------------------------------------------------------------------------------
-- Memories: the contract's transferCountOf (Transfer events that are not mints). A rollback
-- recounts it from the transfers that stay.
-- ---------------------------------------------------------------------------------------------
ALTER TABLE memories ADD COLUMN transfer_count bigint NOT NULL DEFAULT 0;
UPDATE memories m SET transfer_count = (
    SELECT count(*) FROM transfers t
    WHERE t.chain_id = m.chain_id AND t.token_id = m.token_id
      AND t.from_address <> '\x0000000000000000000000000000000000000000'::bytea);
ALTER TABLE memories ALTER COLUMN transfer_count DROP DEFAULT;

-- ---------------------------------------------------------------------------------------------
-- Market
-- ---------------------------------------------------------------------------------------------

-- Listed(tokenId, listingId, seller, price, expiresAt, transferCount, accountState). A listing is
-- live while it is open, `expires_at >= chain_state.indexed_timestamp` and `transfer_count`
-- equals the token's `memories.transfer_count` (computed by the API, not stored).
ALTER TABLE listings
    ADD COLUMN listing_id     numeric(78,0) NOT NULL DEFAULT 0,
    ADD COLUMN expires_at     numeric(20,0) NOT NULL DEFAULT 0,   -- unix seconds
    ADD COLUMN transfer_count bigint        NOT NULL DEFAULT 0;
ALTER TABLE listings
    ALTER COLUMN listing_id DROP DEFAULT,
    ALTER COLUMN expires_at DROP DEFAULT,
    ALTER COLUMN transfer_count DROP DEFAULT;

-- ListingCancelled(tokenId, listingId, holder): whoever held the token cancelled (the seller, or
-- the holder after a transfer); the old contracts named the seller.
ALTER TABLE listing_cancellations ADD COLUMN listing_id numeric(78,0) NOT NULL DEFAULT 0;
ALTER TABLE listing_cancellations ALTER COLUMN listing_id DROP DEFAULT;
ALTER TABLE listing_cancellations RENAME COLUMN seller TO holder;

-- Sold names no listing: `listing_id` is derived, the open listing of the token that the sale
-- closed (NULL for sales of the old contracts).
ALTER TABLE sales ADD COLUMN listing_id numeric(78,0);

-- Withdrawn(account, to, amount): the old contracts paid the account itself.
ALTER TABLE withdrawals ADD COLUMN to_address bytea CHECK (length(to_address) = 20);
UPDATE withdrawals SET to_address = account;
ALTER TABLE withdrawals ALTER COLUMN to_address SET NOT NULL;
CREATE INDEX withdrawals_to_idx ON withdrawals (chain_id, to_address, block_number DESC);

-- ---------------------------------------------------------------------------------------------
-- Certificates: the struct names the creator (the contract checks it is the token's creator)
-- and the certifier (the event's `certifier`, already stored).
-- ---------------------------------------------------------------------------------------------
ALTER TABLE certificates ADD COLUMN creator bytea CHECK (length(creator) = 20);
UPDATE certificates c SET creator = coalesce(
    (SELECT m.creator FROM memories m WHERE m.chain_id = c.chain_id AND m.token_id = c.token_id),
    '\x0000000000000000000000000000000000000000'::bytea);
ALTER TABLE certificates ALTER COLUMN creator SET NOT NULL;
-- the view's `*` was expanded when it was created: expand it again with the new column
CREATE OR REPLACE VIEW active_certificates AS
SELECT DISTINCT ON (chain_id, token_id) *
FROM certificates
WHERE NOT revoked AND expires_at > extract(epoch FROM now())
ORDER BY chain_id, token_id, block_number DESC, log_index DESC;

-- ---------------------------------------------------------------------------------------------
-- Approvals granted by token-bound accounts
-- ---------------------------------------------------------------------------------------------

-- One row per ERC-20 `Approval` (kind 'erc20', 3 topics), ERC-721 `Approval` ('erc721', 4 topics)
-- or `ApprovalForAll` ('operator') emitted by any contract (`token_contract`) whose owner is an
-- indexed ERC-6551 account, from the account's creation on. `spender` is the spender, approved
-- address or operator; `amount` the ERC-20 allowance, `token_id` the ERC-721 token; `approved`
-- whether the event grants anything (allowance > 0, approved address non-zero, operator
-- approved). Live (computed by the API): the latest row of its key grants, where the key is
-- (token_contract, owner, kind, spender) for 'erc20'/'operator' and (token_contract, token_id)
-- for 'erc721' (and, on our own token contract, no Transfer of the token came after it).
CREATE TABLE account_approvals (
    chain_id         bigint        NOT NULL,
    block_number     bigint        NOT NULL,
    log_index        integer       NOT NULL,
    tx_hash          bytea         NOT NULL CHECK (length(tx_hash) = 32),
    block_timestamp  bigint,
    token_contract   bytea         NOT NULL CHECK (length(token_contract) = 20),
    owner            bytea         NOT NULL CHECK (length(owner) = 20),
    kind             text          NOT NULL CHECK (kind IN ('erc20', 'erc721', 'operator')),
    spender          bytea         NOT NULL CHECK (length(spender) = 20),
    amount           numeric(78,0) CHECK ((kind = 'erc20') = (amount IS NOT NULL)),
    token_id         numeric(78,0) CHECK ((kind = 'erc721') = (token_id IS NOT NULL)),
    approved         boolean       NOT NULL,
    UNIQUE (chain_id, tx_hash, log_index)
);
CREATE INDEX account_approvals_owner_idx   ON account_approvals (chain_id, owner, block_number DESC, log_index DESC);
-- the "latest row of its key" probes
CREATE INDEX account_approvals_spender_idx ON account_approvals (chain_id, token_contract, owner, spender, kind, block_number, log_index);
CREATE INDEX account_approvals_token_idx   ON account_approvals (chain_id, token_contract, token_id, block_number, log_index);
CREATE INDEX account_approvals_block_idx   ON account_approvals (chain_id, block_number);
