//! basalt-wire (being built)
