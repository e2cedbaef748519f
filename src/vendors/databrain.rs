//! databrain (being written).
