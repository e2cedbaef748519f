//! qlik (being written).
