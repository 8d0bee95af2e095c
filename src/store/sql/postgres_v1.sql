-- loyalty-engine schema version 1, PostgreSQL. Applied by PostgresStore::create_schema in one
-- transaction; later versions add files that migrate from the version before. Plain tables,
-- constraints and an index: it runs unchanged on PostgreSQL-compatible distributed databases.
-- Tables are unqualified: they go in the first schema of the connection's search_path.

CREATE TABLE loyalty_schema_version (
    version     integer     NOT NULL PRIMARY KEY,
    description text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per member: the state (MemberState as JSON) and a version that every commit for the
-- member increments; a commit only writes if the version is still the one it loaded.
CREATE TABLE loyalty_members (
    member  text   NOT NULL PRIMARY KEY,
    version bigint NOT NULL CHECK (version > 0),
    state   text   NOT NULL
);

-- One row per applied event: the event id is unique by constraint. `member_version` is the
-- member version the commit produced, so (member, member_version) orders a member's events.
CREATE TABLE loyalty_events (
    event_id       text   NOT NULL PRIMARY KEY,
    member         text   NOT NULL,
    member_version bigint NOT NULL CHECK (member_version > 0),
    event          text   NOT NULL,
    outcome        text   NOT NULL,
    UNIQUE (member, member_version)
);

-- Append-only: one row per posting, never updated or deleted.
CREATE TABLE loyalty_postings (
    event_id      text    NOT NULL REFERENCES loyalty_events (event_id),
    posting_index integer NOT NULL CHECK (posting_index >= 0),
    member        text    NOT NULL,
    from_account  text    NOT NULL,
    to_account    text    NOT NULL,
    asset         text    NOT NULL,
    amount        numeric NOT NULL CHECK (amount > 0),
    lot           bigint  CHECK (lot >= 0),
    PRIMARY KEY (event_id, posting_index)
);

CREATE INDEX loyalty_postings_by_member ON loyalty_postings (member);

INSERT INTO loyalty_schema_version (version, description)
VALUES (1, 'members, events and postings');
