//! databrain simulator (being written).
