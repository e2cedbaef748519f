//! qlik simulator (being written).
