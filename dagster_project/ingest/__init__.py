"""Landing files -> raw DuckDB tables: daily partitioned assets, the contract, the quarantine."""
