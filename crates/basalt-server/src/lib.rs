//! basalt-server (being built)
