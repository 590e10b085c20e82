-- The ids of the faces being clustered, per connection (filled by COPY), dropped at the end of the transaction.
CREATE TEMP TABLE IF NOT EXISTS cluster_candidates (id INTEGER PRIMARY KEY) ON COMMIT DROP;
