"""The reviewers' console: the case store (store, models, ingest, consumer), the web app (app, auth, pages,
svg), labels export and the audit chain.  Nothing here imports the stream workers."""
