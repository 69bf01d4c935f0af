//! basalt-llama (being built)
