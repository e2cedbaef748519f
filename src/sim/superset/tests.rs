//! Tests of the Superset simulator through its HTTP API (raw reqwest).
