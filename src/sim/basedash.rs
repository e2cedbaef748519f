//! basedash simulator (being written).
