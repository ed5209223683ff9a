-- Schema version 1 of the sinkkit postgres sink. Runs with search_path set to the sink's schema,
-- inside one transaction holding the bootstrap advisory lock (see schema.py). Documents live in
-- JSONB; the keys the contract indexes or makes unique are expression indexes over them, so a
-- single UPDATE ... SET doc = ... changes an object atomically and its indexes follow.
-- Why JSONB documents rather than relational columns: docs/decisions/0001-postgres-jsonb-documents.md

CREATE TABLE users (
    id   text COLLATE "C" PRIMARY KEY,
    seq  bigint GENERATED ALWAYS AS IDENTITY,
    doc  jsonb NOT NULL
);
-- usernames and emails are stored lower-cased (folded on the way in), so uniqueness is case-folded
CREATE UNIQUE INDEX users_username_key ON users ((doc->>'username'));
CREATE UNIQUE INDEX users_email_key ON users ((doc->>'email'))
    WHERE coalesce(doc->>'email', '') <> '';
CREATE INDEX users_git_account_idx ON users ((doc->>'gitAccount'));
CREATE INDEX users_oidc_idx ON users ((doc->>'oidcId'));
CREATE INDEX users_public_keys_idx ON users USING gin ((doc->'publicKeys') jsonb_path_ops);

CREATE TABLE repos (
    id           text COLLATE "C" PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    doc          jsonb NOT NULL,
    created_ms   bigint NOT NULL,
    modified_ms  bigint NOT NULL
);
CREATE UNIQUE INDEX repos_url_key ON repos ((doc->>'url'));
CREATE INDEX repos_name_idx ON repos ((doc->>'name') COLLATE "C", id);

CREATE TABLE pushes (
    id       text COLLATE "C" PRIMARY KEY,
    doc      jsonb NOT NULL,
    -- listing order: timestamp desc (pushes without a numeric timestamp last), then id desc
    ts       numeric GENERATED ALWAYS AS (
                 CASE WHEN jsonb_typeof(doc->'timestamp') = 'number'
                      THEN (doc->>'timestamp')::numeric END) STORED,
    -- the default get_pushes() query: pending review
    pending  boolean GENERATED ALWAYS AS (
                 doc @> '{"error": false, "blocked": true, "allowPush": false,
                          "authorised": false, "type": "push"}'::jsonb) STORED
);
CREATE INDEX pushes_pending_idx ON pushes (ts DESC NULLS LAST, id DESC) WHERE pending;
CREATE INDEX pushes_listing_idx ON pushes (ts DESC NULLS LAST, id DESC);
CREATE INDEX pushes_user_email_idx ON pushes ((doc->>'userEmail'));

-- git-proxy's migrations ledger (record_migration ...), not this schema's version table
CREATE TABLE sink_migrations (
    id          text COLLATE "C" PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    applied_at  text NOT NULL
);
