-- loyalty-engine schema version 1, SQLite. Applied by SqliteStore::create_schema in one
-- transaction; later versions add files that migrate from the version before.

CREATE TABLE loyalty_schema_version (
    version     INTEGER NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL,
    applied_at  TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One row per member: the state (MemberState as JSON) and a version that every commit for the
-- member increments; a commit only writes if the version is still the one it loaded.
CREATE TABLE loyalty_members (
    member  TEXT    NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version > 0),
    state   TEXT    NOT NULL
);

-- One row per applied event: the event id is unique by constraint. `seq` (the rowid) numbers
-- the events in commit order; `member_version` is the member version the commit produced.
CREATE TABLE loyalty_events (
    seq            INTEGER NOT NULL PRIMARY KEY,
    event_id       TEXT    NOT NULL UNIQUE,
    member         TEXT    NOT NULL,
    member_version INTEGER NOT NULL CHECK (member_version > 0),
    event          TEXT    NOT NULL,
    outcome        TEXT    NOT NULL,
    UNIQUE (member, member_version)
);

-- Append-only: one row per posting, never updated or deleted. Amounts are exact decimal text.
CREATE TABLE loyalty_postings (
    event_id      TEXT    NOT NULL REFERENCES loyalty_events (event_id),
    posting_index INTEGER NOT NULL CHECK (posting_index >= 0),
    member        TEXT    NOT NULL,
    from_account  TEXT    NOT NULL,
    to_account    TEXT    NOT NULL,
    asset         TEXT    NOT NULL,
    amount        TEXT    NOT NULL CHECK (CAST(amount AS REAL) > 0),
    lot           INTEGER CHECK (lot >= 0),
    PRIMARY KEY (event_id, posting_index)
);

CREATE INDEX loyalty_postings_by_member ON loyalty_postings (member);

INSERT INTO loyalty_schema_version (version, description)
VALUES (1, 'members, events and postings');
