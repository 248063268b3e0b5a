"""The witness's business logic over the database: the API and the CLI both call these."""
