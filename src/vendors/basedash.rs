//! basedash (being written).
