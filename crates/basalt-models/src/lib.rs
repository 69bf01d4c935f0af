//! basalt-models (being built)
