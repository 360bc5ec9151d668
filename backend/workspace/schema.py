"""The workspace database schema and its migrations.

``MIGRATIONS[i]`` brings a database from version i to i+1. Never edit a released
migration: append a new one, so that every existing workspace upgrades in order.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 0 -> 1: every table the pipeline needs, filled by later stages.
    """
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        source_dir TEXT NOT NULL,
        copy_files INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        summary_json TEXT
    );
    CREATE TABLE import_problems (
        id INTEGER PRIMARY KEY,
        import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
        file TEXT NOT NULL,
        severity TEXT NOT NULL CHECK (severity IN ('error', 'warning', 'note')),
        message TEXT NOT NULL
    );
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        source_path TEXT NOT NULL,
        stored_path TEXT,                -- relative to the workspace when copied or converted
        sha256 TEXT NOT NULL UNIQUE,      -- of the source file's bytes
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        notes TEXT NOT NULL DEFAULT '',   -- conversions applied on import
        flagged INTEGER NOT NULL DEFAULT 0,
        flag_note TEXT NOT NULL DEFAULT '',
        current_mask_id INTEGER REFERENCES mask_versions(id),
        import_id INTEGER REFERENCES imports(id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX images_name ON images(name);
    CREATE TABLE mask_versions (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        version INTEGER NOT NULL,         -- 0 = the original, never modified
        parent_id INTEGER REFERENCES mask_versions(id),
        operation TEXT NOT NULL,          -- original, dilate, erode, edit, revert, ...
        params_json TEXT NOT NULL DEFAULT '{}',
        path TEXT NOT NULL,               -- relative to the workspace
        sha256 TEXT NOT NULL,
        area INTEGER NOT NULL,            -- foreground pixels
        source_mask_path TEXT,            -- for version 0: the imported mask file
        created_at TEXT NOT NULL,
        UNIQUE (image_id, version)
    );
    CREATE TABLE clusterings (
        id INTEGER PRIMARY KEY,
        k INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        extractor TEXT NOT NULL,
        params_json TEXT NOT NULL DEFAULT '{}',
        is_current INTEGER NOT NULL DEFAULT 0,
        sheet_path TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE cluster_assignments (
        clustering_id INTEGER NOT NULL REFERENCES clusterings(id) ON DELETE CASCADE,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        cluster INTEGER NOT NULL,
        PRIMARY KEY (clustering_id, image_id)
    );
    CREATE TABLE features (
        key TEXT PRIMARY KEY,             -- extractor + image sha256 + mask version
        extractor TEXT NOT NULL,
        dim INTEGER NOT NULL,
        data BLOB NOT NULL                -- float32 little-endian
    );
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        target TEXT NOT NULL,             -- full | cluster | imported
        clustering_id INTEGER REFERENCES clusterings(id),
        cluster INTEGER,
        preset TEXT NOT NULL,
        config_json TEXT NOT NULL,
        path TEXT NOT NULL,               -- run folder, relative to the workspace
        created_at TEXT NOT NULL
    );
    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        loss REAL,
        path TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,               -- train | inpaint | style | ...
        status TEXT NOT NULL CHECK (status IN
            ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
        params_json TEXT NOT NULL DEFAULT '{}',
        position REAL NOT NULL,           -- queue order
        progress_done INTEGER NOT NULL DEFAULT 0,
        progress_total INTEGER NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        result_json TEXT,
        pid INTEGER,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,               -- inpainted | styled | external (e.g. a GAN set) | ...
        set_name TEXT NOT NULL,           -- e.g. Diff, Styled-Diff, Full-Diff, GAN
        source_image_id INTEGER REFERENCES images(id),
        mask_version_id INTEGER REFERENCES mask_versions(id),
        parent_sample_id INTEGER REFERENCES samples(id),
        model_id INTEGER REFERENCES models(id),
        checkpoint_id INTEGER REFERENCES checkpoints(id),
        job_id INTEGER REFERENCES jobs(id),
        seed INTEGER,
        params_json TEXT NOT NULL DEFAULT '{}',
        image_path TEXT NOT NULL,
        mask_path TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX samples_source ON samples(source_image_id);
    CREATE TABLE reviews (
        sample_id INTEGER PRIMARY KEY REFERENCES samples(id) ON DELETE CASCADE,
        decision TEXT NOT NULL CHECK (decision IN ('keep', 'reject', 'undecided')),
        note TEXT NOT NULL DEFAULT '',
        decided_at TEXT NOT NULL
    );
    CREATE TABLE surveys (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        seed INTEGER NOT NULL,
        params_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    CREATE TABLE survey_items (
        id INTEGER PRIMARY KEY,
        survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
        truth TEXT NOT NULL,              -- real | inpainted | styled | ... (hidden from raters)
        image_id INTEGER REFERENCES images(id),
        sample_id INTEGER REFERENCES samples(id),
        image_path TEXT NOT NULL,         -- normalised copy shown to raters
        mask_path TEXT NOT NULL
    );
    CREATE TABLE raters (
        id INTEGER PRIMARY KEY,
        survey_id INTEGER NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        seed INTEGER NOT NULL,
        submitted_at TEXT,
        UNIQUE (survey_id, name)
    );
    CREATE TABLE survey_answers (
        id INTEGER PRIMARY KEY,
        rater_id INTEGER NOT NULL REFERENCES raters(id) ON DELETE CASCADE,
        item_id INTEGER NOT NULL REFERENCES survey_items(id) ON DELETE CASCADE,
        image_quality TEXT CHECK (image_quality IN ('good', 'moderate', 'poor')),
        mask_quality TEXT CHECK (mask_quality IN ('good', 'moderate', 'poor')),
        real_fake TEXT CHECK (real_fake IN ('real', 'fake')),
        comment TEXT NOT NULL DEFAULT '',
        answered_at TEXT NOT NULL,
        UNIQUE (rater_id, item_id)
    );
    CREATE TABLE seg_runs (
        id INTEGER PRIMARY KEY,
        experiment TEXT NOT NULL,
        run_key TEXT NOT NULL UNIQUE,     -- identifies a configuration: resumable sets skip done keys
        params_json TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'done',
        metrics_json TEXT,
        path TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,               -- fid | msssim | evaluate | report | ...
        key TEXT NOT NULL,
        value_json TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX results_kind_key ON results(kind, key);
    """,
    # 1 -> 2: survey items get a blinded code (used in CSVs collected elsewhere) and raters
    # a flag that marks simulated raters, so reports can never pass them off as experts.
    """
    ALTER TABLE survey_items ADD COLUMN code TEXT;
    ALTER TABLE raters ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX survey_items_code ON survey_items(survey_id, code)
    """,
    # 2 -> 3: web rater links. Only a hash of each rater's link token is stored (a copied
    # database or backup lets no one rate in someone's name); ``secret`` keys the rater's
    # opaque image codes and CSRF token; ``hint`` (the token's first characters) lets the
    # researcher tell links apart.
    """
    CREATE TABLE rater_links (
        rater_id INTEGER PRIMARY KEY REFERENCES raters(id) ON DELETE CASCADE,
        token_sha256 TEXT NOT NULL UNIQUE,
        secret TEXT NOT NULL,
        hint TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
    # 3 -> 4: each image's role in the evaluation protocol. Test images are held out: no
    # generation stage uses them, segmentation is tested on them. ``role_note`` says how the
    # role was set (e.g. a random hold-out drawn by the segmentation stage).
    """
    ALTER TABLE images ADD COLUMN role TEXT NOT NULL DEFAULT 'train' CHECK (role IN ('train', 'test'));
    ALTER TABLE images ADD COLUMN role_note TEXT NOT NULL DEFAULT ''
    """,
    # 4 -> 5: quality gates (backend/gates.py), one row per sample and gate, scored when the
    # sample is made. The threshold is stored with the value so a verdict can be re-read later.
    """
    CREATE TABLE sample_gates (
        sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        gate TEXT NOT NULL,
        value REAL NOT NULL,
        threshold REAL NOT NULL,
        passed INTEGER NOT NULL,
        scored_at TEXT NOT NULL,
        PRIMARY KEY (sample_id, gate)
    )
    """,
    # 5 -> 6: the memorisation audit (backend/audit): a sample's nearest training image by one
    # method, under one training set (``fingerprint``: the train-role images and masks and the
    # method's settings), so an audit recomputes only samples the current training set has not
    # seen. ``flip`` says whether the training image matched as it is or mirrored.
    """
    CREATE TABLE sample_audit (
        sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        fingerprint TEXT NOT NULL,
        method TEXT NOT NULL,             -- e.g. pixel32-region, pixel32-frame, fid-inception@...
        nearest_image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        flip TEXT NOT NULL CHECK (flip IN ('none', 'horizontal', 'vertical')),
        distance REAL NOT NULL,           -- to the nearest training image
        ratio REAL NOT NULL,              -- distance / mean distance to the next k nearest
        computed_at TEXT NOT NULL,
        PRIMARY KEY (sample_id, fingerprint, method)
    )
    """,
    # 6 -> 7 (survey reader study, issue 32): how each item was rated and shown twice.
    # ``shown_at``: when the rater first saw the item; ``first_answered_at``: their first
    # answer to it; ``changes``: answers changed after being given (``answered_at`` is the
    # last). ``repeat_of``: an item shown a second time to measure a rater's agreement with
    # themselves (the first showing's id); repeats are left out of every other statistic.
    # ``calibration``: an item shown first with its truth told after the answer, to calibrate
    # the rater; left out of every statistic and marked in the exports.
    """
    ALTER TABLE survey_answers ADD COLUMN shown_at TEXT;
    ALTER TABLE survey_answers ADD COLUMN first_answered_at TEXT;
    ALTER TABLE survey_answers ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE survey_items ADD COLUMN repeat_of INTEGER REFERENCES survey_items(id);
    ALTER TABLE survey_items ADD COLUMN calibration INTEGER NOT NULL DEFAULT 0
    """,
    # 7 -> 8 (mask-guided synthesis, issue 34): the role ``background``, frames without polyps
    # imported without masks, inputs of synthesis only. SQLite cannot alter a CHECK constraint;
    # widening one (every existing row still satisfies it) is the edit of the table's stored
    # definition that SQLite documents for it (lang_altertable.html, "other kinds of table
    # schema changes"): writable_schema, then RESET to reparse the schema on this connection,
    # and an index on the role (a DDL statement) that bumps the schema cookie, so that other
    # connections reparse it too.
    """
    PRAGMA writable_schema = ON;
    UPDATE sqlite_master SET sql = replace(sql, 'CHECK (role IN (''train'', ''test''))',
        'CHECK (role IN (''train'', ''test'', ''background''))') WHERE type = 'table' AND name = 'images';
    PRAGMA writable_schema = RESET;
    CREATE INDEX images_role ON images(role)
    """,
    # 8 -> 9 (survey questions from a template, issue 32 item 10): a rater's answers to an
    # item as one JSON object {question name: answer value}, whatever the survey's template
    # asks; the three columns of the paper's questions are copied in and no longer written.
    """
    ALTER TABLE survey_answers ADD COLUMN answers_json TEXT NOT NULL DEFAULT '{}';
    UPDATE survey_answers SET answers_json = json_object('image_quality', image_quality, 'mask_quality', mask_quality,
        'real_fake', real_fake)
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
