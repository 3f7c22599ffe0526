-- A dataset's title and description in languages other than its first (`languages`), as a
-- JSON object keyed by ISO 639-1 code: {"en": {"title": "…", "description": "…"}}. The portal
-- shows the visitor's language where there is one; DCAT gives each as a language-tagged
-- literal. Existing datasets have none.
ALTER TABLE datasets ADD COLUMN translations TEXT NOT NULL DEFAULT '{}';
